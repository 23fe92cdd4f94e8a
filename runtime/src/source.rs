//! Frame sources: where the images to judge come from.
//!
//! A [`FrameSource`] yields frames one by one; a frame that cannot be read is an error item
//! carrying its id, not the end of the stream, so every trigger still gets a result. Sources
//! are chosen on the command line as `SCHEME:ARG` ([`SourceSpec`]); this build has `dir:PATH`
//! ([`DirSource`]: every PNG/JPEG under a directory, recursively, in path order).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::preprocess::load_rgb;

/// One captured image and its id (for a directory source, the path relative to it).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Stable id of the frame, used in results and heatmap names.
    pub id: String,
    /// The image.
    pub image: RgbImage,
    /// Counts the frames a source has delivered, from 1.
    pub sequence: u64,
    /// When the frame was captured (for a directory source: read).
    pub captured: std::time::SystemTime,
}

/// A frame that could not be captured or decoded.
#[derive(Debug)]
pub struct FrameError {
    /// Id of the frame that failed.
    pub id: String,
    /// Why.
    pub error: Error,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame `{}`: {}", self.id, self.error)
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Something that yields frames.
pub trait FrameSource {
    /// The next frame, an error for a frame that could not be read, or `None` at the end.
    fn next_frame(&mut self) -> Option<std::result::Result<Frame, FrameError>>;
}

impl<T: FrameSource + ?Sized> FrameSource for Box<T> {
    fn next_frame(&mut self) -> Option<std::result::Result<Frame, FrameError>> {
        (**self).next_frame()
    }
}

/// Every `.png`, `.jpg` and `.jpeg` file (any case) under a directory, recursively, sorted by
/// relative path; ids are the `/`-separated relative paths.
///
/// ```no_run
/// # fn main() -> adapts_runtime::Result<()> {
/// use std::path::Path;
/// use adapts_runtime::source::{DirSource, FrameSource};
///
/// let mut source = DirSource::open(Path::new("images"))?;
/// while let Some(frame) = source.next_frame() {
///     match frame {
///         Ok(frame) => println!("{} {:?}", frame.id, frame.image.dimensions()),
///         Err(err) => eprintln!("{err}"),
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct DirSource {
    root: PathBuf,
    files: std::vec::IntoIter<(String, PathBuf)>,
    len: usize,
    delivered: u64,
}

impl DirSource {
    /// Lists the images under `root`. A missing or unreadable directory is an error here;
    /// unreadable images are error items later.
    pub fn open(root: &Path) -> Result<Self> {
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                root,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
            ));
        }
        let mut files = Vec::new();
        collect_images(root, "", &mut files)?;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let len = files.len();
        Ok(Self {
            root: root.to_path_buf(),
            files: files.into_iter(),
            len,
            delivered: 0,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of images found.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no images were found.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FrameSource for DirSource {
    fn next_frame(&mut self) -> Option<std::result::Result<Frame, FrameError>> {
        let (id, path) = self.files.next()?;
        self.delivered += 1;
        let captured = std::time::SystemTime::now();
        Some(match load_rgb(&path) {
            Ok(image) => Ok(Frame {
                id,
                image,
                sequence: self.delivered,
                captured,
            }),
            Err(error) => Err(FrameError { id, error }),
        })
    }
}

/// Whether a file name has an image extension this source reads.
fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e))
}

/// Adds `(relative id, path)` of every image under `dir` to `out`. Symlinks to files are
/// followed; symlinks to directories are not (no cycles).
fn collect_images(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if file_type.is_dir() {
            collect_images(&path, &id, out)?;
        } else if is_image(&name) && (file_type.is_file() || path.is_file()) {
            out.push((id, path));
        }
    }
    Ok(())
}

/// A frame source as named on the command line, `SCHEME:ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `dir:PATH`: the images under a directory.
    Dir(PathBuf),
}

impl SourceSpec {
    /// Opens the source.
    pub fn open(&self) -> Result<Box<dyn FrameSource + Send>> {
        match self {
            SourceSpec::Dir(path) => Ok(Box::new(DirSource::open(path)?)),
        }
    }
}

impl FromStr for SourceSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let error = |reason: String| Error::Source {
            spec: spec.to_owned(),
            reason,
        };
        let Some((scheme, arg)) = spec.split_once(':') else {
            return Err(error(
                "expected SCHEME:ARG, e.g. `dir:images/` (schemes: dir)".into(),
            ));
        };
        match scheme {
            "dir" if arg.is_empty() => Err(error("`dir:` needs a directory path".into())),
            "dir" => Ok(SourceSpec::Dir(PathBuf::from(arg))),
            "v4l" | "v4l2" | "gige" | "rtsp" | "stdin" => Err(error(format!(
                "the `{scheme}` source is not supported in this build (supported: dir)"
            ))),
            other => Err(error(format!(
                "unknown source scheme `{other}` (supported: dir)"
            ))),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Dir(path) => write!(f, "dir:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, shade: u8) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        RgbImage::from_pixel(4, 3, image::Rgb([shade, shade, shade]))
            .save(path)
            .expect("save png");
    }

    #[test]
    fn lists_images_recursively_in_path_order_and_reports_bad_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write_png(&root.join("b/2.png"), 20);
        write_png(&root.join("b/10.png"), 10);
        write_png(&root.join("a.PNG"), 1);
        std::fs::create_dir_all(root.join("c")).expect("mkdir");
        RgbImage::from_pixel(5, 5, image::Rgb([9, 9, 9]))
            .save(root.join("c/x.jpg"))
            .expect("save jpg");
        std::fs::write(root.join("b/broken.png"), b"not a png").expect("write");
        std::fs::write(root.join("notes.txt"), b"ignored").expect("write");

        let mut source = DirSource::open(root).expect("open");
        assert_eq!(source.len(), 5);
        let mut seen = Vec::new();
        while let Some(item) = source.next_frame() {
            match item {
                Ok(frame) => seen.push((frame.id, Some(frame.image.dimensions()))),
                Err(err) => {
                    assert!(err.to_string().contains("broken.png"), "{err}");
                    seen.push((err.id, None));
                }
            }
        }
        assert_eq!(
            seen,
            vec![
                ("a.PNG".to_string(), Some((4, 3))),
                ("b/10.png".to_string(), Some((4, 3))),
                ("b/2.png".to_string(), Some((4, 3))),
                ("b/broken.png".to_string(), None),
                ("c/x.jpg".to_string(), Some((5, 5))),
            ]
        );
    }

    #[test]
    fn missing_directory_is_a_setup_error_naming_it() {
        let err = DirSource::open(Path::new("/no/such/frames")).expect_err("missing");
        assert!(err.to_string().contains("/no/such/frames"), "{err}");
    }

    #[test]
    fn parses_dir_and_refuses_other_schemes_clearly() {
        assert_eq!(
            "dir:some/where".parse::<SourceSpec>().expect("dir"),
            SourceSpec::Dir(PathBuf::from("some/where"))
        );
        let err = "v4l:/dev/video0".parse::<SourceSpec>().expect_err("v4l");
        assert!(
            err.to_string().contains("not supported in this build"),
            "{err}"
        );
        let err = "images/".parse::<SourceSpec>().expect_err("no scheme");
        assert!(err.to_string().contains("SCHEME:ARG"), "{err}");
        assert!("ftp:x".parse::<SourceSpec>().is_err());
        assert!("dir:".parse::<SourceSpec>().is_err());
    }
}
