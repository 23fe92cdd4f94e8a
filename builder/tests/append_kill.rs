//! `train --append` killed with SIGKILL at any moment leaves the previous bundle loadable and
//! unchanged, and a later append still works: the manifest, written last and atomically, is
//! the commit point. Kills land during training and, where the race allows, between the
//! new product's files and the manifest.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use adapts_runtime::bundle::Bundle;
use common::{builder, files, synth, train_args};

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn sigkill_during_append_leaves_the_previous_bundle_loadable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 2, 8, 1);
    let base = tmp.path().join("base");
    let first = builder()
        .args(train_args(&data, &base, "fabric", false))
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = files(&base);

    let (mut interrupted, mut mid_write) = (0, 0);
    // A delay in ms, or `None`: kill as soon as the first new file appears (the window
    // between the product's files and the manifest).
    let plan = [Some(50u64), Some(300), Some(1200), Some(2500), None, None];
    for (i, delay) in plan.into_iter().enumerate() {
        let dir = tmp.path().join(format!("kill-{i}"));
        copy_dir(&base, &dir);
        let mut child = builder()
            .args(train_args(&data, &dir, "washer", true))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match delay {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
            None => {
                while child.try_wait().unwrap().is_none() && files(&dir).len() == before.len() {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        let delay_ms = delay.map_or("first new file".to_string(), |ms| format!("{ms} ms"));
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL on Unix
        }
        child.wait().unwrap();
        let bundle = Bundle::open(&dir)
            .unwrap_or_else(|e| panic!("after a kill at {delay_ms}: {}", e.chain_message()));
        let names: Vec<&str> = bundle
            .manifest()
            .products
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        match names.as_slice() {
            ["fabric"] => {
                interrupted += 1;
                // Every file the previous bundle had is still there, byte for byte.
                let now = files(&dir);
                mid_write += usize::from(now.len() > before.len());
                for (rel, bytes) in &before {
                    assert_eq!(
                        now.get(rel),
                        Some(bytes),
                        "{rel} changed by a killed append"
                    );
                }
                // And the append can be run again to the end.
                let again = builder()
                    .args(train_args(&data, &dir, "washer", true))
                    .output()
                    .unwrap();
                assert!(
                    again.status.success(),
                    "{}",
                    String::from_utf8_lossy(&again.stderr)
                );
                let bundle = Bundle::open(&dir).unwrap();
                assert_eq!(bundle.manifest().products.len(), 2);
            }
            ["fabric", "washer"] => {}
            other => panic!("after a kill at {delay_ms}: products {other:?}"),
        }
    }
    eprintln!("{interrupted} kills before the commit, {mid_write} with new files written");
    assert!(
        interrupted > 0,
        "no kill landed before the append committed"
    );
    assert!(
        mid_write > 0,
        "no kill landed while the new files were being written"
    );
}
