//! `--verify`: the policies' own tests (`test_*` rules), reported as conftest's `verify`
//! reports them: one result per test, named by its file and package, in any output format.
//! A failing or erroring test is a failure (`data.<package>.<test>`), a `todo_*` rule is
//! skipped.

use gatehouse_engine::Engine;
use gatehouse_engine::testing::Status;

use super::result::{CheckResult, Message};

/// Runs every test in the engine's policies.
pub(crate) fn run(engine: &Engine) -> Vec<CheckResult> {
    engine
        .tests()
        .iter()
        .map(|test| {
            let outcome = engine.run_test(test);
            let name = format!("data.{}.{}", test.package, test.name);
            let mut result = CheckResult::new(&test.file, &test.package);
            match outcome.status {
                Status::Pass => result.successes = 1,
                Status::Fail => result.failures.push(Message::text(name)),
                Status::Error(e) => result.failures.push(Message::text(format!("{name}: {e}"))),
                Status::Skip => result.skipped.push(Message::text(name)),
            }
            result
        })
        .collect()
}
