//! File-permission rules for what decides which parts ship: trust keys writable by anyone but
//! their owner are refused, signing keys others can read are refused, and bundle files others
//! can write are warned about ([`warn_shared_bundle`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::bundle::FileEntry;
use crate::error::{Error, Result};

/// Group- or world-writable.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// Any access by group or world.
const ANY_BY_OTHERS: u32 = 0o077;
/// The sticky bit: in a world-writable folder (`/tmp`), only a file's owner can replace it.
const STICKY: u32 = 0o1000;

fn mode(path: &Path) -> Result<u32> {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|e| Error::io(path, e))
}

fn refused(path: &Path, reason: String) -> Error {
    Error::Permissions {
        path: path.to_path_buf(),
        reason,
    }
}

/// Refuses a file, `what`, that users other than its owner can write, or whose folder they can
/// write (they could replace it), unless the folder is sticky.
pub fn refuse_writable_by_others(path: &Path, what: &str) -> Result<()> {
    let file_mode = mode(path)?;
    if file_mode & WRITABLE_BY_OTHERS != 0 {
        return Err(refused(
            path,
            format!(
                "{what} that group or other users can write (mode {:o}) is refused: whoever \
                 can change it decides which bundles are trusted (chmod go-w)",
                file_mode & 0o7777
            ),
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let dir_mode = mode(dir)?;
        if dir_mode & WRITABLE_BY_OTHERS != 0 && dir_mode & STICKY == 0 {
            return Err(refused(
                dir,
                format!(
                    "the folder of {what} `{}` can be written by group or other users (mode \
                     {:o}), so they could replace it; refused (chmod go-w, or move the key)",
                    path.display(),
                    dir_mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a signing key file that group or other users can read or write.
pub fn refuse_shared_secret(path: &Path) -> Result<()> {
    let file_mode = mode(path)?;
    if file_mode & ANY_BY_OTHERS != 0 {
        return Err(refused(
            path,
            format!(
                "a signing key that group or other users can access (mode {:o}) is refused: \
                 whoever reads it can sign bundles (chmod 600)",
                file_mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// The bundle folder, its manifest and its files that group or other users can write, each
/// with its mode. With a trust key set a change to them is refused at load; without one it
/// would ship.
pub fn shared_bundle_files(dir: &Path, files: &[FileEntry]) -> Vec<(String, u32)> {
    let mut shared = Vec::new();
    let mut look = |rel: &str, path: &Path| {
        if let Ok(m) = mode(path) {
            if m & WRITABLE_BY_OTHERS != 0 {
                shared.push((rel.to_owned(), m & 0o7777));
            }
        }
    };
    look(".", dir);
    look(
        crate::bundle::MANIFEST_FILE,
        &dir.join(crate::bundle::MANIFEST_FILE),
    );
    for file in files {
        look(&file.path, &dir.join(&file.path));
    }
    shared
}

/// Logs a warning naming the bundle files others can write (see [`shared_bundle_files`]);
/// `checked` says whether signatures are checked.
pub fn warn_shared_bundle(dir: &Path, files: &[FileEntry], checked: bool) {
    let shared = shared_bundle_files(dir, files);
    if shared.is_empty() {
        return;
    }
    let list: Vec<String> = shared
        .iter()
        .map(|(rel, m)| format!("{rel} (mode {m:o})"))
        .collect();
    let consequence = if checked {
        "a change is refused by the signature check, but they can stop this station loading \
         its bundle"
    } else {
        "no trust key is set, so a change to them would ship unnoticed"
    };
    log::warn!(
        "bundle {}: group or other users can write {}: {consequence} (chmod -R go-w)",
        dir.display(),
        list.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_trust_key_writable_by_others_or_in_an_open_folder_is_refused_naming_why() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pub");
        std::fs::write(&key, "x").unwrap();
        chmod(dir.path(), 0o755);
        chmod(&key, 0o644);
        refuse_writable_by_others(&key, "a trust key").unwrap();
        chmod(&key, 0o664);
        let err = refuse_writable_by_others(&key, "a trust key").unwrap_err();
        assert!(err.to_string().contains("mode 664"), "{err}");
        chmod(&key, 0o644);
        chmod(dir.path(), 0o777);
        let err = refuse_writable_by_others(&key, "a trust key").unwrap_err();
        assert!(err.to_string().contains("could replace it"), "{err}");
        chmod(dir.path(), 0o1777);
        refuse_writable_by_others(&key, "a trust key").unwrap();
        chmod(dir.path(), 0o755);
    }

    #[test]
    fn a_signing_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "x").unwrap();
        chmod(&key, 0o600);
        refuse_shared_secret(&key).unwrap();
        chmod(&key, 0o640);
        let err = refuse_shared_secret(&key).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn shared_bundle_files_are_listed_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        for name in ["a.onnx", "b.onnx", crate::bundle::MANIFEST_FILE] {
            std::fs::write(dir.path().join(name), "x").unwrap();
            chmod(&dir.path().join(name), 0o644);
        }
        chmod(&dir.path().join("b.onnx"), 0o666);
        let files: Vec<FileEntry> = ["a.onnx", "b.onnx"]
            .into_iter()
            .map(|path| FileEntry {
                path: path.into(),
                sha256: String::new(),
                bytes: 1,
            })
            .collect();
        assert_eq!(
            shared_bundle_files(dir.path(), &files),
            [("b.onnx".to_owned(), 0o666)]
        );
    }
}
