use clap::Parser;
use eraser::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Standard output is the report, for people and scripts.
    common::telemetry::init_on_stderr(&config.log);
    let audit = config.audit_file.display().to_string();
    let report = eraser::run(config).await?;
    for line in report.lines() {
        println!("{line}");
    }
    println!("  audit         {audit}");
    if report.unfinished() {
        anyhow::bail!(
            "the erasure is not finished in every store; run the command again once the pipeline has caught up"
        );
    }
    Ok(())
}
