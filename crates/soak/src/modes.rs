//! Which modes to soak: by default every mode the conformance suite runs, read from the
//! `conformance::suite!(name, binary, [args])` lines of each `crates/server-*/tests/conformance.rs`,
//! so a mode added there is soaked too without anyone remembering this file.

use std::fs;
use std::io;
use std::path::Path;

/// One server binary with the flags of one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    /// Crate and binary name, e.g. `server-epoll`.
    pub server: String,
    /// The mode's name (the conformance module name, or the flags for a mode given by hand).
    pub name: String,
    /// The mode's flags.
    pub args: Vec<String>,
}

impl Mode {
    /// `server-epoll single_level`.
    pub fn label(&self) -> String {
        format!("{} {}", self.server, self.name)
    }
}

/// Every mode of every server crate under `crates/`, sorted by server then file order.
pub fn from_workspace(crates: &Path) -> io::Result<Vec<Mode>> {
    let mut servers: Vec<String> = fs::read_dir(crates)?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("server-") && name != "server-common")
        .collect();
    servers.sort();
    let mut modes = Vec::new();
    for server in servers {
        let path = crates.join(&server).join("tests/conformance.rs");
        let text = fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        modes.extend(parse_suites(&server, &text));
    }
    Ok(modes)
}

/// The modes declared in one `tests/conformance.rs`: each `suite!(name, binary, [args])`.
pub fn parse_suites(server: &str, text: &str) -> Vec<Mode> {
    let mut modes = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("suite!(") {
        rest = &rest[start + "suite!(".len()..];
        let Some(end) = rest.find(");") else {
            break;
        };
        let call = &rest[..end];
        rest = &rest[end..];
        let name: String = call
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The flags are the quoted strings inside the last `[...]`.
        let args = match (call.rfind('['), call.rfind(']')) {
            (Some(open), Some(close)) if open < close => quoted_strings(&call[open + 1..close]),
            _ => Vec::new(),
        };
        if !name.is_empty() {
            modes.push(Mode {
                server: server.to_owned(),
                name,
                args,
            });
        }
    }
    modes
}

fn quoted_strings(list: &str) -> Vec<String> {
    list.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Modes given on the command line: `server-epoll --pattern multi server-poll …` (a word that
/// starts with `server-` begins a new mode; the words after it are its flags).
pub fn from_args(words: &[String]) -> Result<Vec<Mode>, String> {
    let mut modes: Vec<Mode> = Vec::new();
    for word in words {
        if word.starts_with("server-") {
            modes.push(Mode {
                server: word.clone(),
                name: String::new(),
                args: Vec::new(),
            });
        } else if let Some(mode) = modes.last_mut() {
            mode.args.push(word.clone());
        } else {
            return Err(format!(
                "'{word}': name a server first, e.g. `server-epoll --pattern multi`"
            ));
        }
    }
    for mode in &mut modes {
        mode.name = if mode.args.is_empty() {
            "default".to_owned()
        } else {
            mode.args.join(" ")
        };
    }
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_read_with_their_flags() {
        let text = r#"
conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-poll"), []);
conformance::suite!(
    reactor_edge,
    env!("CARGO_BIN_EXE_server-epoll"),
    [
        "--pattern",
        "reactor",
        "--workers",
        "2"
    ]
);
conformance::suite!(single, uring_binary!(), ["--accept", "single"]);
"#;
        let modes = parse_suites("server-x", text);
        let seen: Vec<(&str, Vec<&str>)> = modes
            .iter()
            .map(|m| (m.name.as_str(), m.args.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            seen,
            [
                ("default_mode", vec![]),
                (
                    "reactor_edge",
                    vec!["--pattern", "reactor", "--workers", "2"]
                ),
                ("single", vec!["--accept", "single"]),
            ]
        );
    }

    #[test]
    fn every_conformance_mode_of_the_workspace_is_soaked() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let modes = from_workspace(&crates).expect("read the conformance files");
        // Count the declarations independently: one `suite!(` per mode.
        let mut declared = 0;
        for entry in fs::read_dir(&crates).expect("crates/") {
            let path = entry.expect("entry").path().join("tests/conformance.rs");
            if let Ok(text) = fs::read_to_string(path) {
                declared += text.matches("suite!(").count();
            }
        }
        assert!(declared >= 20, "found only {declared} suites");
        assert_eq!(modes.len(), declared);
        assert!(modes.iter().any(|m| m.label() == "server-epoll multi_edge"));
    }

    #[test]
    fn modes_by_hand_group_flags_under_their_server() {
        let words: Vec<String> = ["server-epoll", "--pattern", "multi", "server-poll"]
            .map(String::from)
            .to_vec();
        let modes = from_args(&words).expect("valid");
        assert_eq!(modes[0].label(), "server-epoll --pattern multi");
        assert_eq!(modes[0].args, ["--pattern", "multi"]);
        assert_eq!(modes[1].label(), "server-poll default");
        assert!(from_args(&["--spin".to_owned()]).is_err());
    }
}
