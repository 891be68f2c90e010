//! Config parsing: any text is a config or an error message, never a panic; an error never
//! quotes a `${VAR}`'s value (secrets live there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailhose::config::PipelineConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    std::env::set_var("TRAILHOSE_FUZZ_SECRET", "s3cr3t-value-never-shown");
    if let Err(e) = PipelineConfig::parse(text, "fuzz.toml") {
        let message = e.to_string();
        assert!(!message.is_empty());
        assert!(
            !message.contains("s3cr3t-value-never-shown")
                || text.contains("s3cr3t-value-never-shown"),
            "an error quotes a variable's value: {message}"
        );
    }
});
