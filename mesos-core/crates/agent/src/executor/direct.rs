//! Running a shell command without the shell when the shell would add nothing.
//!
//! `sh -c 'sleep 600'` costs a process more than `sleep 600`: dash forks the command and
//! waits for it. A command line made only of plain words (no quoting, expansion,
//! redirection, operators or assignments), whose first word is not a shell keyword or
//! builtin and names an executable on the task's `PATH`, runs exactly as the shell would
//! run it, so the executor execs it directly, as bash does with `bash -c 'one command'`.
//! Anything else goes through `/bin/sh -c` unchanged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Words the shell treats itself (keywords, special and regular builtins of dash and bash):
/// such a command is never exec'd directly.
const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "[", "[[", "alias", "bg", "break", "case", "cd", "command", "continue", "do",
    "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg",
    "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "local", "printf",
    "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test", "then",
    "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
];

/// A character that means nothing to the shell inside a word.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:,@%+=".contains(c)
}

/// The words of `line` when the shell would run it as one plain command, else `None`.
pub fn plain_words(line: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    let all_plain = words.iter().all(|w| w.chars().all(plain));
    // `A=b cmd` is an assignment; `%1` is job control in bash.
    if !all_plain || first.contains('=') || first.starts_with('%') || SHELL_WORDS.contains(&first) {
        return None;
    }
    Some(words)
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where the shell would find `program` with `path` as its `PATH`.
pub fn resolve(program: &str, path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| executable(p))
}

/// The program and arguments to exec for shell command `line` (argv\[0\] is the first
/// word), when running it without the shell changes nothing.
pub fn direct_command(line: &str, path: &str) -> Option<(PathBuf, Vec<String>)> {
    let words = plain_words(line)?;
    let program = resolve(words[0], path)?;
    Some((program, words.iter().map(|w| w.to_string()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_command_lines_are_split_into_words() {
        assert_eq!(plain_words("sleep 600"), Some(vec!["sleep", "600"]));
        assert_eq!(
            plain_words("  java -Xmx512m -Dport=8080\t-jar app.jar "),
            Some(vec!["java", "-Xmx512m", "-Dport=8080", "-jar", "app.jar"])
        );
        assert_eq!(
            plain_words("./bin/server --listen=0.0.0.0:80,[::]:80"),
            None,
            "brackets are glob characters"
        );
    }

    #[test]
    fn anything_the_shell_interprets_keeps_the_shell() {
        for line in [
            "",
            "   ",
            "sleep $PORT0",
            "echo hi",
            "exit 3",
            "cd /tmp",
            "true",
            "sleep 1; sleep 2",
            "sleep 1 && ls",
            "ls > out",
            "ls *.txt",
            "ls ~",
            "FOO=bar env",
            "python3 -c 'print(1)'",
            "sleep \"1\"",
            "ls\nrm x",
            "cat `which ls`",
            "sleep 1 &",
            "ls | wc",
            "if true",
            "ls # comment",
            "kill 1",
            "%1",
            "(sleep 1)",
            "ls a\\ b",
        ] {
            assert_eq!(plain_words(line), None, "{line:?}");
        }
    }

    #[test]
    fn programs_are_found_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("tool");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let not_exec = dir.path().join("data");
        std::fs::write(&not_exec, "").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(resolve("tool", &path), Some(bin.clone()));
        assert_eq!(resolve("data", &path), None, "not executable");
        assert_eq!(resolve("missing", &path), None);
        assert_eq!(resolve(bin.to_str().unwrap(), ""), Some(bin.clone()));
        let (program, argv) = direct_command("tool --flag x", &path).unwrap();
        assert_eq!(program, bin);
        assert_eq!(argv, vec!["tool", "--flag", "x"]);
        assert_eq!(direct_command("missing --flag", &path), None);
    }
}
