//! Flag parsing for the binaries: `--help` and `--version` print as usual; any other
//! flag error is one line on stderr and exit code 2.

use clap::error::ErrorKind;
use clap::Parser;

pub fn parse_or_exit<T: Parser>() -> T {
    match T::try_parse() {
        Ok(flags) => flags,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid flags");
            let name = std::env::args()
                .next()
                .and_then(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "mesos".into());
            eprintln!("{name}: {}", line.trim_start_matches("error: "));
            std::process::exit(2);
        }
    }
}
