//! `adapts-builder export-trunk`.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::export::trunk::export_trunk;
use adapts_builder::model::check::default_normalization;
use adapts_builder::model::weights::Checkpoint;
use adapts_builder::model::TrunkKind;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Trunk architecture.
    #[arg(long, value_enum, ignore_case = true)]
    trunk: TrunkKind,
    /// Weights file (.pth zip or legacy, or .safetensors).
    #[arg(long)]
    weights: PathBuf,
    /// Last stage to keep (wrn50-2: layer1..layer4; effnet-lite0: stride4..stride32), or `fc`
    /// for the whole classifier.
    #[arg(long)]
    cut: String,
    /// Input size in pixels (square): 224 or 256; any multiple of 32 works.
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Output ONNX file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.size == 0 || !args.size.is_multiple_of(32) {
        anyhow::bail!(
            "--size {}: must be a positive multiple of 32 (224 or 256)",
            args.size
        );
    }
    let arch = args.trunk.arch();
    let cut = arch.parse_cut(&args.cut)?;
    let checkpoint = Checkpoint::load(&args.weights)?;
    let sha256 = checkpoint.sha256.clone();
    let trunk = checkpoint.build_trunk(arch, cut)?;
    let norm = default_normalization(args.trunk);
    let metadata = [
        ("trunk", args.trunk.name().to_string()),
        ("cut", arch.cut_name(cut).to_string()),
        ("input_size", args.size.to_string()),
        ("normalization", serde_json::to_string(&norm)?),
        ("weights_sha256", sha256),
    ];
    let export = export_trunk(&trunk, args.size, &metadata)?;
    export.write(&args.out)?;
    println!(
        "wrote {} (outputs: {}; {:.2} GMAC per image)",
        args.out.display(),
        export.outputs.join(", "),
        export.macs_per_image as f64 / 1e9
    );
    Ok(ExitCode::SUCCESS)
}
