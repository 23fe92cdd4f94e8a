//! Replays the fuzzing corpus (`fuzz/corpus/<target>/`) and every input that once crashed a
//! target (`fuzz/regressions/<target>/`) through the same entry points the fuzzers call
//! (`adapts_runtime::fuzzing`), on the stable toolchain: each must return without a panic.

use std::path::{Path, PathBuf};

use adapts_runtime::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[test]
fn every_corpus_and_regression_input_runs_through_its_target() -> anyhow::Result<()> {
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name))?;
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty: the replay would check nothing"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name))?;
        for path in corpus.iter().chain(&regressions) {
            let bytes = std::fs::read(path)?;
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name}: {} panics", path.display());
        }
        eprintln!(
            "{name}: {} corpus inputs, {} regressions",
            corpus.len(),
            regressions.len()
        );
    }
    Ok(())
}
