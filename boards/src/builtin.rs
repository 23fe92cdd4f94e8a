//! The profiles shipped with AdapTS edge, embedded in the binary.

use crate::board::Board;
use crate::error::{Error, Result};

/// (name, TOML text) of every shipped profile, sorted by name; the name is also the file stem.
const PROFILES: &[(&str, &str)] = &[
    (
        "jetson-agx-orin-32gb",
        include_str!("../profiles/jetson-agx-orin-32gb.toml"),
    ),
    (
        "jetson-agx-orin-64gb",
        include_str!("../profiles/jetson-agx-orin-64gb.toml"),
    ),
    (
        "jetson-agx-xavier",
        include_str!("../profiles/jetson-agx-xavier.toml"),
    ),
    (
        "jetson-orin-nano-4gb",
        include_str!("../profiles/jetson-orin-nano-4gb.toml"),
    ),
    (
        "jetson-orin-nano-8gb",
        include_str!("../profiles/jetson-orin-nano-8gb.toml"),
    ),
    (
        "jetson-orin-nx-16gb",
        include_str!("../profiles/jetson-orin-nx-16gb.toml"),
    ),
    (
        "jetson-orin-nx-8gb",
        include_str!("../profiles/jetson-orin-nx-8gb.toml"),
    ),
    (
        "jetson-xavier-nx",
        include_str!("../profiles/jetson-xavier-nx.toml"),
    ),
    ("x86-cpu", include_str!("../profiles/x86-cpu.toml")),
    ("x86-gpu", include_str!("../profiles/x86-gpu.toml")),
];

impl Board {
    /// Names of the built-in profiles, sorted.
    pub fn builtin_names() -> Vec<&'static str> {
        PROFILES.iter().map(|(name, _)| *name).collect()
    }

    /// Loads and validates a built-in profile by name.
    pub fn builtin(name: &str) -> Result<Board> {
        let (key, text) = PROFILES
            .iter()
            .find(|(key, _)| *key == name)
            .ok_or_else(|| Error::UnknownBoard {
                name: name.to_owned(),
                known: Board::builtin_names().join(", "),
            })?;
        let origin = format!("built-in profile boards/profiles/{key}.toml");
        let board = Board::from_toml_str(text, &origin)?;
        if board.name != *key {
            return Err(Error::Invalid {
                origin,
                key: "name".to_owned(),
                value: format!("{:?}", board.name),
                reason: format!("a built-in profile must carry its file name `{key}`"),
            });
        }
        Ok(board)
    }
}
