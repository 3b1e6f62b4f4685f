//! The `calmline` command: parse, resolve settings, call the library.

fn main() -> std::process::ExitCode {
    calmline::cli::main()
}
