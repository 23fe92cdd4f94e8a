//! `info --board`: a bundle's graph files against a board profile's memory budget, for a
//! built-in profile by name and for a user profile file, in text and in JSON.

mod common;

use std::path::Path;

use common::{builder, ok, one_product_bundle};

fn info(bundle: &Path, board: &str, json: bool) -> std::process::Output {
    let mut cmd = builder();
    cmd.args(["info", "--bundle", &bundle.to_string_lossy()])
        .args(["--board", board]);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

/// The JSON on stdout of a run that must succeed.
fn json(out: std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ok(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}:\n{stdout}"))
}

#[test]
fn info_board_reports_whether_the_graphs_fit_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, bundle) = (tmp.path().join("data"), tmp.path().join("bundle"));
    one_product_bundle(&data, &bundle);

    // A small Lite0 bundle fits both GPU boards' budgets, in either precision.
    for name in ["x86-gpu", "jetson-orin-nano-8gb"] {
        let v = json(info(&bundle, name, true));
        let fit = &v["board"];
        assert_eq!(fit["board"], name, "{v}");
        assert!(fit["memory_budget_mib"].as_u64().unwrap() >= 1024, "{v}");
        for precision in ["fp32", "int8"] {
            assert_eq!(fit[precision]["fits"], true, "{name} {precision}: {v}");
            assert!(fit[precision].get("reason").is_none(), "{v}");
        }
        assert_eq!(fit["fp32"]["precision"], "fp32");
        assert_eq!(fit["int8"]["precision"], "auto");
        assert_eq!(fit["has_int8_twins"], false, "not calibrated: {v}");
        assert_eq!(
            fit["fp32"]["graph_bytes"], v["graph_bytes_fp32"],
            "one count of the graph files: {v}"
        );
    }
    let text = ok(info(&bundle, "jetson-orin-nano-8gb", false));
    assert!(
        text.contains("board jetson-orin-nano-8gb: memory budget 3072 MiB")
            && text.contains("fits")
            && !text.contains("does NOT fit"),
        "{text}"
    );

    // A user profile with a 1 MiB budget: the graphs (about 3 MB) do not fit.
    let profile = tmp.path().join("tiny-station.toml");
    std::fs::write(
        &profile,
        "name = \"tiny-station\"\n\
         description = \"A test board with almost no memory.\"\n\
         engine = \"ort\"\n\
         memory_budget_mb = 1\n\
         [camera]\n\
         device = \"/dev/video0\"\n\
         pixel_format = \"YUYV\"\n\
         width_px = 64\n\
         height_px = 64\n\
         fps = 1\n",
    )
    .unwrap();
    let profile_s = profile.to_string_lossy().into_owned();
    let v = json(info(&bundle, &profile_s, true));
    let fit = &v["board"];
    assert_eq!(fit["board"], "tiny-station", "{v}");
    assert_eq!(fit["memory_budget_mib"], 1, "{v}");
    for precision in ["fp32", "int8"] {
        assert_eq!(fit[precision]["fits"], false, "{precision}: {v}");
        let reason = fit[precision]["reason"].as_str().unwrap();
        assert!(
            reason.contains("board `tiny-station`") && reason.contains("1 MiB"),
            "{reason}"
        );
    }
    let text = ok(info(&bundle, &profile_s, false));
    assert!(
        text.contains("board tiny-station: memory budget 1 MiB") && text.contains("does NOT fit"),
        "{text}"
    );

    // Without --board the JSON says so; an unknown board is an error naming it.
    let plain = json(
        builder()
            .args(["info", "--json", "--bundle", &bundle.to_string_lossy()])
            .output()
            .unwrap(),
    );
    assert!(plain["board"].is_null(), "{plain}");
    let unknown = info(&bundle, "jetson-tx1", false);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("--board jetson-tx1") && stderr.contains("x86-gpu"),
        "{stderr}"
    );
}
