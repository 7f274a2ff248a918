//! Terminal styling: colour only on a terminal, never when NO_COLOR is set
//! (https://no-color.org) or `--color never` is given.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// Whether to colour stdout and stderr.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Colour on stdout.
    pub stdout: bool,
    /// Colour on stderr.
    pub stderr: bool,
}

impl Style {
    /// Decides from `--color`, NO_COLOR and whether each stream is a terminal.
    pub fn detect(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        match choice {
            ColorChoice::Always => Self {
                stdout: true,
                stderr: true,
            },
            ColorChoice::Never => Self {
                stdout: false,
                stderr: false,
            },
            ColorChoice::Auto if no_color => Self {
                stdout: false,
                stderr: false,
            },
            ColorChoice::Auto => Self {
                stdout: std::io::stdout().is_terminal(),
                stderr: std::io::stderr().is_terminal(),
            },
        }
    }

    /// `error:` in bold red on stderr when colour is on.
    pub fn error_label(&self) -> String {
        paint(self.stderr, "1;31", "error:")
    }
}

/// Wraps `text` in an SGR sequence when `on`.
pub fn paint(on: bool, sgr: &str, text: &str) -> String {
    if on {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
