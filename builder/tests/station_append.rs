//! `adapts-builder train --append` on the bundle of a running station: the station notices
//! the new manifest, verifies the new bundle beside the running one, and judges the new
//! product from the next frame on, without losing a trigger.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapts_runtime::camera::SourceCamera;
use adapts_runtime::pipeline::{ReasonCode, Verdict};
use adapts_runtime::results::ResultLine;
use adapts_runtime::source::SourceSpec;
use adapts_runtime::station::reload::{bundle_loader, load_verified, Admission};
use adapts_runtime::station::{
    run, Controls, Judge, Settings, Trigger, TriggerEvent, VerdictSink, Wait,
};
use adapts_runtime::SessionConfig;

fn train(data: &Path, out: &Path, category: &str, append: bool) {
    common::ok(
        common::builder()
            .args(common::train_args(data, out, category, append))
            .output()
            .unwrap(),
    );
}

/// A trigger every 20 ms naming product `washer`, until stopped.
struct Named {
    next: u64,
}

impl Trigger for Named {
    fn wait(&mut self, _timeout: Duration) -> adapts_runtime::Result<Wait> {
        std::thread::sleep(Duration::from_millis(20));
        self.next += 1;
        Ok(Wait::Trigger(TriggerEvent {
            id: self.next,
            product: Some("washer".into()),
            at: Instant::now(),
        }))
    }
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<ResultLine>>>);

impl VerdictSink for Lines {
    fn ready(&mut self, _: bool) -> adapts_runtime::Result<()> {
        Ok(())
    }
    fn busy(&mut self, _: bool) -> adapts_runtime::Result<()> {
        Ok(())
    }
    fn result(&mut self, line: &ResultLine) -> adapts_runtime::Result<()> {
        self.0.lock().unwrap().push(line.clone());
        Ok(())
    }
}

#[test]
fn append_to_a_running_station_is_picked_up_without_losing_a_trigger() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synth(&data, 2, 8, 2);
    let bundle = tmp.path().join("bundle");
    train(&data, &bundle, "fabric", false);

    let config = SessionConfig {
        intra_op_threads: Some(1),
        ..SessionConfig::default()
    };
    let admission = Arc::new(Admission::default());
    let (pipeline, _) = load_verified(&bundle, &config, &admission).unwrap();
    let camera = SourceCamera::open(SourceSpec::Dir(data.join("washer/test")), true).unwrap();
    let controls = Controls::default();
    let lines = Lines::default();
    let station = {
        let (controls, mut sink, bundle) = (controls.clone(), lines.clone(), bundle.clone());
        std::thread::spawn(move || {
            let settings = Settings {
                watch: Some(bundle.clone()),
                watch_every: Duration::from_millis(100),
                ..Settings::default()
            };
            run(
                Box::new(pipeline) as Box<dyn Judge>,
                Box::new(camera),
                Box::new(Named { next: 0 }),
                &mut sink,
                Some(bundle_loader(bundle, config, admission)),
                settings,
                &controls,
            )
            .unwrap()
        })
    };

    train(&data, &bundle, "washer", true);
    let judged = |lines: &[ResultLine]| {
        lines.iter().position(|l| {
            l.product.as_deref() == Some("washer") && l.reason != Some(ReasonCode::Error)
        })
    };
    let start = Instant::now();
    while judged(&lines.0.lock().unwrap()).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the new product was never judged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A few more frames with the new bundle, then stop.
    std::thread::sleep(Duration::from_millis(200));
    controls.stop.store(true, Ordering::SeqCst);
    let summary = station.join().unwrap();

    let lines = lines.0.lock().unwrap();
    let first = judged(&lines).unwrap();
    assert!(first > 0, "the station ran before the append");
    for line in &lines[..first] {
        assert_eq!(line.reason, Some(ReasonCode::Error), "{line:?}");
        assert!(
            line.message.as_deref().unwrap_or("").contains("washer"),
            "{line:?}"
        );
    }
    for line in &lines[first..] {
        assert_eq!(line.product.as_deref(), Some("washer"), "{line:?}");
        assert_ne!(line.reason, Some(ReasonCode::Error), "{line:?}");
        assert!(line.verdict == Verdict::Pass || line.reason == Some(ReasonCode::Anomaly));
    }
    let ids: Vec<u64> = lines.iter().map(|l| l.trigger.unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no trigger lost"
    );
    assert_eq!(summary.stats.refused, 0);
    assert!(summary.stats.reloads >= 1);
}
