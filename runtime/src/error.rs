//! The runtime's error type: one enum for every failure the device library can report, each
//! variant carrying the context a line engineer needs (file path, tensor name, expected and
//! found shape) so that a message alone is enough to act on.

use std::fmt;
use std::path::PathBuf;

/// Result type of the runtime library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading ONNX Runtime, loading a model or running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An engine's own failure (ONNX Runtime's errors are `engine::ort::OrtError`): loading
    /// its library, loading a graph, running one. Shown as the engine's message.
    #[error(transparent)]
    Engine(Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A GPU engine was asked for and cannot run here: a library it needs is missing.
    #[error("{0}")]
    EngineUnavailable(Box<EngineUnavailable>),

    /// A TensorRT plan store cannot be used: no plans for this device, plans of another
    /// device or TensorRT version, or a missing or corrupt engine file.
    #[error("TensorRT plans `{}`: {reason}", path.display())]
    Plans {
        /// The store, key folder or file in question.
        path: PathBuf,
        /// What is wrong and what rebuilds it.
        reason: String,
    },

    /// A GPU operation failed (CUDA driver, NVRTC, or a kernel launch).
    #[error("GPU: {what}: {message}")]
    Gpu {
        /// What was being done.
        what: String,
        /// The driver's or compiler's message.
        message: String,
    },

    /// A model file does not exist.
    #[error("model `{}` does not exist", path.display())]
    ModelNotFound {
        /// The path that was given.
        path: PathBuf,
    },

    /// A tensor's data length does not match its shape.
    #[error("tensor of shape {shape:?} needs {expected} values, found {found}")]
    TensorLength {
        /// The declared shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Length of the data.
        found: usize,
    },

    /// A run named an input the model does not have.
    #[error("model `{}` has no input `{name}`; its inputs are {}", model.display(), NameList(known))]
    UnknownInput {
        /// The model file.
        model: PathBuf,
        /// The name that was given.
        name: String,
        /// The model's input names, in declaration order.
        known: Vec<String>,
    },

    /// A run gave the same input twice.
    #[error("input `{name}` of model `{}` was given more than once", model.display())]
    DuplicateInput {
        /// The model file.
        model: PathBuf,
        /// The repeated input name.
        name: String,
    },

    /// A run left out an input the model needs.
    #[error("model `{}` needs input `{name}`, which was not given", model.display())]
    MissingInput {
        /// The model file.
        model: PathBuf,
        /// The missing input name.
        name: String,
    },

    /// A tensor's shape does not fit the model's declared shape.
    #[error(
        "input `{name}` of model `{}`: expected shape {}, found {found:?}",
        model.display(),
        ShapeSpec(expected)
    )]
    InputShape {
        /// The model file.
        model: PathBuf,
        /// The input name.
        name: String,
        /// The declared shape; `None` is a dynamic dimension.
        expected: Vec<Option<usize>>,
        /// The shape that was given.
        found: Vec<usize>,
    },

    /// A model input or output is not an `f32` tensor; the runtime exchanges `f32` only.
    #[error("{role} `{name}` of model `{}` is {found}; only f32 tensors are supported", model.display())]
    UnsupportedType {
        /// The model file.
        model: PathBuf,
        /// `"input"` or `"output"`.
        role: &'static str,
        /// The tensor name.
        name: String,
        /// The type ONNX Runtime reports.
        found: String,
    },

    /// An image file could not be read or decoded.
    #[error("{}: {message}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },

    /// A file or directory could not be read, written, renamed or listed.
    #[error("I/O error on `{}`", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file does not start with the bundle manifest's magic bytes.
    #[error("`{}` is not an AdapTS bundle manifest", path.display())]
    ManifestMagic {
        /// The manifest file.
        path: PathBuf,
    },

    /// A manifest was written in a format version this build cannot read.
    #[error(
        "`{}` has bundle format version {found}; this build reads versions 1 to {supported} \
         (rebuild the bundle with a matching adapts-builder, or update the runtime)",
        path.display()
    )]
    ManifestVersion {
        /// The manifest file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },

    /// A manifest's body could not be decoded.
    #[error("cannot decode the bundle manifest `{}`: {reason}", path.display())]
    ManifestDecode {
        /// The manifest file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },

    /// A manifest could not be encoded.
    #[error("cannot encode the bundle manifest: {reason}")]
    ManifestEncode {
        /// What the encoder reported.
        reason: String,
    },

    /// A bundle file's content does not match the checksum in the manifest.
    #[error(
        "bundle file `{}` is corrupted: expected sha256 {expected}, found {found}",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Hex sha256 recorded in the manifest.
        expected: String,
        /// Hex sha256 of the file on disk.
        found: String,
    },

    /// A bundle file's size does not match the manifest.
    #[error(
        "bundle file `{}` is corrupted: expected {expected} bytes, found {found}",
        path.display()
    )]
    FileSize {
        /// The file.
        path: PathBuf,
        /// Size recorded in the manifest.
        expected: u64,
        /// Size on disk.
        found: u64,
    },

    /// A file the manifest lists is not in the bundle directory.
    #[error("bundle file `{}` is listed in the manifest but missing", path.display())]
    FileMissing {
        /// The file.
        path: PathBuf,
    },

    /// A manifest is internally inconsistent (a graph not listed in `files`, duplicate product
    /// names, a prototype of the wrong length, ...).
    #[error("invalid bundle `{}`: {reason}", path.display())]
    InvalidBundle {
        /// The bundle directory (or manifest) in question.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A bundle write was refused (non-empty directory, overwriting an earlier product's file).
    #[error("cannot write bundle `{}`: {reason}", path.display())]
    BundleWrite {
        /// The bundle directory or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A graph ran but did not produce what the bundle contract says (missing output, wrong
    /// shape, non-finite score).
    #[error("graph `{graph}`: {reason}")]
    GraphContract {
        /// The graph, as named in the bundle (e.g. `trunk.onnx`).
        graph: String,
        /// What was wrong.
        reason: String,
    },

    /// A product name is not in the bundle.
    #[error(
        "product `{name}` is not in the bundle; its products are {}",
        NameList(known)
    )]
    UnknownProduct {
        /// The name that was given.
        name: String,
        /// The bundle's products, in the order they were added.
        known: Vec<String>,
    },

    /// A routing vector cannot be compared with the prototypes.
    #[error("routing: {reason}")]
    Routing {
        /// What was wrong.
        reason: String,
    },

    /// A frame source specification could not be understood or is not available.
    #[error("frame source `{spec}`: {reason}")]
    Source {
        /// The specification as given (e.g. `v4l:/dev/video0`).
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A GPIO chip or line could not be requested, read or driven.
    #[error("GPIO {chip}: {what}")]
    Gpio {
        /// The chip and line(s), e.g. `/dev/gpiochip0 line 17`.
        chip: String,
        /// What failed.
        what: String,
        /// The driver's error.
        #[source]
        source: gpiocdev::Error,
    },

    /// Trust keys are set and the bundle's manifest carries no signature.
    #[error(
        "bundle `{}` is not signed, and only bundles signed by a trusted key ({trusted}) are \
         accepted: sign it with `adapts-builder sign --bundle DIR --key KEY`",
        path.display()
    )]
    Unsigned {
        /// The bundle directory.
        path: PathBuf,
        /// Ids of the trusted keys.
        trusted: String,
    },

    /// The bundle is signed, but by a key that is not trusted.
    #[error(
        "bundle `{}` is signed by key {key}, which is not a trusted key (trusted: {trusted})",
        path.display()
    )]
    UntrustedKey {
        /// The bundle directory.
        path: PathBuf,
        /// Id of the key that signed it.
        key: String,
        /// Ids of the trusted keys.
        trusted: String,
    },

    /// The signature does not match the manifest: it was changed after signing, or forged.
    #[error(
        "bundle `{}` has a bad signature: key {key} did not sign this manifest (it was \
         changed after signing, or the signature is forged)",
        path.display()
    )]
    BadSignature {
        /// The bundle directory.
        path: PathBuf,
        /// Id of the key the signature names.
        key: String,
    },

    /// A reload offered a bundle older than the running one.
    #[error(
        "bundle `{}` has sequence number {found}, lower than the running bundle's {running}: \
         an older (possibly replayed) bundle is refused unless a downgrade is allowed \
         explicitly (`--allow-downgrade`, or `allow_downgrade = true` under `[trust]`)",
        path.display()
    )]
    Downgrade {
        /// The bundle directory.
        path: PathBuf,
        /// The offered bundle's sequence number.
        found: u64,
        /// The running bundle's sequence number.
        running: u64,
    },

    /// A signing or trust key file cannot be used.
    #[error("key file `{}`: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A file others could change decides what ships.
    #[error("`{}`: {reason}", path.display())]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Who can write it, and why that is refused.
        reason: String,
    },

    /// An input is over its documented size limit; it was refused before being decoded.
    #[error("`{}` is {found} bytes, over the {limit}-byte limit for {what}", path.display())]
    TooLarge {
        /// The file or stream.
        path: PathBuf,
        /// What kind of input it is.
        what: &'static str,
        /// Its size (or a lower bound of it).
        found: u64,
        /// The limit.
        limit: u64,
    },

    /// The station configuration is wrong; the message names the key and the value.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The configuration file (or `(command line)`).
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
}

impl Error {
    /// Shorthand for an [`Error::Io`] about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The error and its causes on one line, separated by `: ` (like anyhow's `{:#}`).
    pub fn chain_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            // ONNX Runtime's errors built from a boxed error repeat that error's text as their
            // own message; print it once.
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }
}

/// Renders a declared shape with `?` for dynamic dimensions, e.g. `[?, 3, 224, 224]`.
pub(crate) struct ShapeSpec<'a>(pub(crate) &'a [Option<usize>]);

impl fmt::Display for ShapeSpec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, dim) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match dim {
                Some(d) => write!(f, "{d}")?,
                None => f.write_str("?")?,
            }
        }
        f.write_str("]")
    }
}

/// Renders a list of tensor names as `` `a`, `b` ``.
struct NameList<'a>(&'a [String]);

impl fmt::Display for NameList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(none)");
        }
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_spec_marks_dynamic_dims() {
        assert_eq!(
            ShapeSpec(&[None, Some(3), Some(224)]).to_string(),
            "[?, 3, 224]"
        );
        assert_eq!(ShapeSpec(&[]).to_string(), "[]");
    }

    #[test]
    fn shape_error_names_input_and_both_shapes() {
        let err = Error::InputShape {
            model: PathBuf::from("trunk.onnx"),
            name: "image".into(),
            expected: vec![None, Some(3)],
            found: vec![2, 4],
        };
        assert_eq!(
            err.to_string(),
            "input `image` of model `trunk.onnx`: expected shape [?, 3], found [2, 4]"
        );
    }
}

/// What [`Error::EngineUnavailable`] says: the engine, the missing library, where it was
/// looked for, and what to do.
#[derive(Debug)]
pub struct EngineUnavailable {
    /// The engine asked for (`cuda` or `tensorrt`).
    pub engine: String,
    /// The library (or build feature) that is missing.
    pub library: String,
    /// Where it was looked for.
    pub looked_in: Vec<PathBuf>,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for EngineUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let places: Vec<String> = self
            .looked_in
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        write!(
            f,
            "--engine {}: {} not found (looked in {}); {}",
            self.engine,
            self.library,
            places.join(", "),
            self.hint
        )
    }
}
