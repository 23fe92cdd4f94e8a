//! Board profiles for AdapTS edge stations: what a target board offers (engine, JetPack,
//! TensorRT and CUDA versions, SM architecture, DLA cores), what the inspection app may use
//! (memory budget), and where its camera and GPIO lines are by default.
//!
//! Profiles are data: TOML files under `boards/profiles/`, embedded in the binary so a
//! device needs no files at run time, and loadable from a user path for boards we do not
//! ship. Every profile is validated once, at load.
//!
//! ```
//! use adapts_boards::{Board, Engine};
//!
//! # fn main() -> adapts_boards::Result<()> {
//! let board = Board::builtin("jetson-orin-nano-8gb")?;
//! assert_eq!(board.engine, Engine::Tensorrt);
//! assert_eq!(board.cuda_arch_sm, Some(87));
//! assert!(Board::builtin_names().contains(&"x86-cpu"));
//! # Ok(())
//! # }
//! ```

mod board;
mod builtin;
mod camera;
mod error;
mod gpio;
mod load;
mod validate;
mod version;

pub use board::{Board, Engine};
pub use camera::{Camera, PixelFormat};
pub use error::{Error, Location, Result};
pub use gpio::{Gpio, TriggerEdge};
pub use load::MAX_PROFILE_BYTES;
pub use version::{CudaFeature, ParseVersionError, Version};
