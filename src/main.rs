//! The `calmline` command: parse, resolve settings, call the library.

fn main() -> std::process::ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    #[cfg(feature = "diarise")]
    unsafe {
        calmline::diarise::prepare_process()
    };
    calmline::cli::main()
}
