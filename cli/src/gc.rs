//! `shmsync gc`: removes the segments nobody has open.

use shmsync::inspect;
use shmsync::Result;

use crate::json;

/// Removes every stale segment (with `dry_run`, removes nothing) and lists
/// the names, as text or as a JSON array.
pub(crate) fn run(prefix: Option<&str>, dry_run: bool, as_json: bool) -> Result<String> {
    let names = inspect::remove_stale_with_prefix(prefix.unwrap_or(""), dry_run)?;
    if as_json {
        return Ok(json::to_text(&json::names(&names)));
    }
    if names.is_empty() {
        return Ok("nothing to remove\n".to_owned());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    Ok(names.iter().map(|name| format!("{verb} {name}\n")).collect())
}
