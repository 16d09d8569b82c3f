//! Writing a run: `results.json` (every figure), `results.md` (one table per scenario, servers
//! as rows) and SVG charts (one per lesson of the course, and the cost charts).
//!
//! | module | what it writes |
//! |---|---|
//! | `markdown.rs` | results.md: tables, marks, the noise floor |
//! | `summary.rs` | the one-screen summary that opens results.md |
//! | `charts/` | the SVG charts |

mod charts;
mod markdown;
mod summary;

use std::fs;
use std::io;
use std::path::Path;

use markdown::markdown;

use crate::results::Results;

/// Write results.json, results.md and the charts into `dir` (created if needed).
pub fn write_all(results: &Results, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    fs::write(dir.join("results.json"), json + "\n")?;
    let drawn = charts::draw_all(results, dir);
    let charts: Vec<(&str, &str, &str)> = drawn
        .iter()
        .map(|c| (c.file, c.title.as_str(), c.shows))
        .collect();
    fs::write(dir.join("results.md"), markdown(results, &charts))?;
    Ok(())
}

/// Point `<out_root>/README.md`'s `Latest run:` line at `dir` (appending the line if missing).
/// Does nothing when there is no README there.
pub fn update_index(out_root: &Path, dir: &Path) -> io::Result<()> {
    let readme = out_root.join("README.md");
    let Ok(text) = fs::read_to_string(&readme) else {
        return Ok(());
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = format!("Latest run: [{name}]({name}/results.md)");
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("Latest run:") {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(String::new());
        out.push(line);
    }
    fs::write(readme, out.join("\n") + "\n")
}

#[cfg(test)]
mod tests;
