//! `shmsync rm`: removes one segment's name.

use shmsync::inspect::{self, Removal};
use shmsync::Result;

/// Removes `name`, refusing ([`shmsync::Error::InUse`]) while a process
/// has it open unless `force`; says what it removed.
pub(crate) fn run(name: &str, force: bool) -> Result<String> {
    inspect::remove(name, if force { Removal::Force } else { Removal::IfUnused })?;
    Ok(format!("removed {}\n", name.trim_start_matches('/')))
}
