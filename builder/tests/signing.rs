//! Signing as an operator does it: `keygen`, `train --key`, `train --append` with and without
//! the key, `sign --sequence`, and `info` showing what the manifest carries.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use adapts_runtime::bundle::Bundle;
use adapts_runtime::trust::{PublicKey, SignatureCheck, TrustPolicy};
use common::{ok, synth, train_args};

fn builder(args: &[&str]) -> Output {
    common::builder().args(args).output().unwrap()
}

fn train(data: &Path, out: &Path, category: &str, append: bool, key: Option<&Path>) -> Output {
    let mut cmd = common::builder();
    cmd.args(train_args(data, out, category, append));
    if let Some(key) = key {
        cmd.arg("--key").arg(key);
    }
    cmd.output().unwrap()
}

#[test]
fn keys_sign_trained_and_appended_bundles_and_an_unkeyed_append_says_it_is_unsigned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = dir.join("line.key");
    let key_s = key.to_string_lossy().into_owned();

    let said = ok(builder(&["keygen", "--out", &key_s]));
    assert!(said.contains("ed25519:"), "{said}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let public = PublicKey::read(&dir.join("line.key.pub")).unwrap();
    let trust = TrustPolicy::with_keys(vec![public]);
    // An existing key is never replaced.
    let again = builder(&["keygen", "--out", &key_s]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to replace"));

    let data = dir.join("data");
    synth(&data, 3, 6, 1);
    let bundle = dir.join("bundle");
    ok(train(&data, &bundle, "fabric", false, Some(&key)));
    let opened = Bundle::open_with(&bundle, &trust).unwrap();
    assert_eq!(opened.signature(), SignatureCheck::Verified(public.id()));
    assert_eq!(opened.manifest().sequence, 1);

    // Appending with the key re-signs.
    ok(train(&data, &bundle, "washer", true, Some(&key)));
    let opened = Bundle::open_with(&bundle, &trust).unwrap();
    assert_eq!(opened.manifest().sequence, 2);
    assert_eq!(opened.signature(), SignatureCheck::Verified(public.id()));

    // Without it the bundle is unsigned, and the log says so.
    let said = ok(train(&data, &bundle, "wood", true, None));
    assert!(said.contains("the signature is now missing"), "{said}");
    assert!(Bundle::open_with(&bundle, &trust).is_err());

    // `sign` signs it again and can raise the sequence; `info` shows both.
    let bundle_s = bundle.to_string_lossy().into_owned();
    ok(builder(&[
        "sign",
        "--bundle",
        &bundle_s,
        "--key",
        &key_s,
        "--sequence",
        "10",
    ]));
    let opened = Bundle::open_with(&bundle, &trust).unwrap();
    assert_eq!(opened.manifest().sequence, 10);
    let info = ok(builder(&["info", "--bundle", &bundle_s]));
    assert!(info.contains("sequence 10, signed by ed25519:"), "{info}");

    // A key file others can read is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = builder(&["sign", "--bundle", &bundle_s, "--key", &key_s]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("chmod 600"));
}
