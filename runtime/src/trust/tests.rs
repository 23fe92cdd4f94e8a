//! Signed bundles: a signed bundle opens; a flipped byte anywhere, a wrong key, a missing
//! signature and a downgrade are each refused with their own error. The signatures themselves
//! are checked against OpenSSL in `tests/integration/signature_openssl.rs`.

use std::path::Path;

use super::*;
use crate::bundle::tests::{graph_paths, sample_manifest, write_bundle};
use crate::bundle::{sign_bundle, Bundle, BundleWriter, MANIFEST_FILE};

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn trusting(keys: &[&SecretKey]) -> TrustPolicy {
    TrustPolicy::with_keys(keys.iter().map(|k| k.public()).collect())
}

fn signed_bundle(dir: &Path, by: &SecretKey) {
    write_bundle(dir, &["bottle", "cable"]);
    sign_bundle(dir, by, None).expect("sign");
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_signed_bundle_opens_verified_and_an_unsigned_one_opens_without_a_trust_key() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key(1);
    write_bundle(dir.path(), &["bottle"]);
    let unsigned = Bundle::open(dir.path()).unwrap();
    assert_eq!(unsigned.signature(), SignatureCheck::Unsigned);

    sign_bundle(dir.path(), &signer, None).unwrap();
    let id = signer.public().id();
    assert_eq!(
        Bundle::open(dir.path()).unwrap().signature(),
        SignatureCheck::NotChecked(id)
    );
    let bundle = Bundle::open_with(dir.path(), &trusting(&[&key(9), &signer])).unwrap();
    assert_eq!(bundle.signature(), SignatureCheck::Verified(id));
    assert_eq!(
        bundle.manifest(),
        unsigned.manifest(),
        "signing changes no content"
    );
}

#[test]
fn a_flipped_byte_in_any_signed_manifest_byte_is_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key(1);
    signed_bundle(dir.path(), &signer);
    let path = dir.path().join(MANIFEST_FILE);
    let original = std::fs::read(&path).unwrap();
    let signed_len = original.len() - crate::bundle::SIGNATURE_LEN;
    // Past the magic and version (those are other errors): the body length, every body byte.
    for at in 12..signed_len {
        std::fs::write(&path, &original).unwrap();
        flip(&path, at);
        let err = Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap_err();
        let acceptable = matches!(err, Error::BadSignature { .. })
            // A changed body length moves the signature block.
            || (at < 16 && matches!(err, Error::ManifestDecode { .. }));
        assert!(acceptable, "byte {at}: {err:?}");
    }
    // In the signature itself.
    std::fs::write(&path, &original).unwrap();
    flip(&path, original.len() - 1);
    let err = Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("bad signature") && text.contains(&signer.public().id().to_string()));
}

#[test]
fn a_flipped_byte_in_a_signed_bundles_graph_is_a_checksum_error() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key(1);
    signed_bundle(dir.path(), &signer);
    for rel in graph_paths(&sample_manifest(&["bottle", "cable"])) {
        let path = dir.path().join(&rel);
        flip(&path, 0);
        let err = Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{rel}: {err:?}");
        assert!(err.to_string().contains(&rel), "{err}");
        flip(&path, 0);
    }
    Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap();
}

#[test]
fn a_bundle_signed_by_another_key_is_untrusted_and_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, trusted) = (key(1), key(2));
    signed_bundle(dir.path(), &signer);
    let err = Bundle::open_with(dir.path(), &trusting(&[&trusted])).unwrap_err();
    assert!(matches!(err, Error::UntrustedKey { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&signer.public().id().to_string()), "{text}");
    assert!(text.contains(&trusted.public().id().to_string()), "{text}");
}

#[test]
fn a_forged_block_naming_the_trusted_key_is_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (forger, trusted) = (key(1), key(2));
    signed_bundle(dir.path(), &forger);
    // Replace the public key in the block with the trusted one; the signature stays the
    // forger's.
    let path = dir.path().join(MANIFEST_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 96;
    bytes[at..at + 32].copy_from_slice(&trusted.public().to_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = Bundle::open_with(dir.path(), &trusting(&[&trusted])).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn an_unsigned_bundle_is_refused_when_a_trust_key_is_set() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &["bottle"]);
    let err = Bundle::open_with(dir.path(), &trusting(&[&key(1)])).unwrap_err();
    assert!(matches!(err, Error::Unsigned { .. }), "{err:?}");
    assert!(err.to_string().contains("adapts-builder sign"), "{err}");
}

#[test]
fn every_write_raises_the_sequence_and_appending_with_a_key_re_signs() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key(1);
    assert_eq!(write_bundle(dir.path(), &["bottle"]).sequence, 1);
    assert_eq!(
        write_bundle(dir.path(), &["bottle"]).sequence,
        2,
        "replacing"
    );
    sign_bundle(dir.path(), &signer, None).unwrap();

    let append = |key: Option<SecretKey>| {
        let mut writer = BundleWriter::append(dir.path()).unwrap();
        let mut manifest = writer.base().unwrap().clone();
        let next = format!("p{}", manifest.products.len());
        let mut product = manifest.products[0].clone();
        product.name = next.clone();
        product.adapters = product
            .adapters
            .iter()
            .map(|a| a.replace("bottle", &next))
            .collect();
        for a in &product.adapters {
            writer.add_file(a, b"graph").unwrap();
        }
        manifest.products.push(product);
        if let Some(key) = key {
            writer.sign_with(key);
        }
        writer.finish(manifest).unwrap()
    };
    assert_eq!(append(Some(signer.clone())).sequence, 3);
    let bundle = Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap();
    assert_eq!(
        bundle.signature(),
        SignatureCheck::Verified(signer.public().id())
    );

    // Without a key the new manifest is unsigned (and the writer says so in the log).
    let writer = BundleWriter::append(dir.path()).unwrap();
    assert_eq!(writer.previous_signer(), Some(signer.public().id()));
    drop(writer);
    assert_eq!(append(None).sequence, 4);
    let err = Bundle::open_with(dir.path(), &trusting(&[&signer])).unwrap_err();
    assert!(matches!(err, Error::Unsigned { .. }), "{err:?}");
}

#[test]
fn signing_can_raise_the_sequence_but_never_lower_it() {
    let dir = tempfile::tempdir().unwrap();
    let signer = key(1);
    write_bundle(dir.path(), &["bottle"]);
    write_bundle(dir.path(), &["bottle"]);
    assert_eq!(
        sign_bundle(dir.path(), &signer, Some(40)).unwrap().sequence,
        40
    );
    let err = sign_bundle(dir.path(), &signer, Some(39)).unwrap_err();
    assert!(err.to_string().contains("never goes down"), "{err}");
    assert_eq!(Bundle::open(dir.path()).unwrap().manifest().sequence, 40);
}

#[test]
fn a_lower_sequence_is_a_downgrade_unless_allowed() {
    let p = Path::new("b");
    check_sequence(p, 5, 5, false).unwrap();
    check_sequence(p, 6, 5, false).unwrap();
    let err = check_sequence(p, 4, 5, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Downgrade {
                found: 4,
                running: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--allow-downgrade"), "{err}");
    check_sequence(p, 4, 5, true).unwrap();
}

#[test]
fn key_files_round_trip_with_private_mode_0600_and_are_never_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line3.key");
    let secret = key(7);
    secret.write_new(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(SecretKey::read(&path).unwrap().public(), secret.public());
    let public = PublicKey::read(&public_path_of(&path)).unwrap();
    assert_eq!(public, secret.public());
    let err = key(8).write_new(&path).unwrap_err();
    assert!(err.to_string().contains("refusing to replace"), "{err}");
    assert_eq!(SecretKey::read(&path).unwrap().public(), secret.public());
    // A private key given as a trust key says what to give instead.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = PublicKey::read(&path).unwrap_err();
    assert!(err.to_string().contains("`.pub` file"), "{err}");
}

#[test]
fn key_ids_are_sha256_prefixes_of_the_raw_key() {
    let public = key(3).public();
    let digest = crate::bundle::sha256_hex(&public.to_bytes());
    assert_eq!(
        public.id().to_string(),
        format!("ed25519:{}", &digest[..16])
    );
}
