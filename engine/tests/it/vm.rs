//! Why decisions do not run on regorus's bytecode VM (`rvm`), kept checkable.
//!
//! The VM evaluates the library several times faster than the interpreter (the `rvm` group of
//! `cargo bench -p gatehouse-engine --bench decide`), but it turns an error inside a rule body
//! and a conflict between complete-rule definitions into "undefined", even with strict
//! built-in errors. For a `deny` rule that means a policy that breaks allows. The interpreter,
//! which Gatehouse uses, reports both as errors, and the engine then denies.
//!
//! These tests hold that difference in view. If one of them fails, the VM has begun to report
//! such errors, and moving decisions onto it (see docs/benchmarks.md) should be looked at again.

use std::sync::Arc;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;
use regorus::{Engine, Value};

const INPUT: &str = r#"{"zero": 0, "text": "abc"}"#;

fn interpreter(source: &str) -> Engine {
    let mut rego = Engine::new();
    rego.add_policy("t.rego".into(), source.into())
        .expect("the policy parses");
    rego.set_input(Value::from_json_str(INPUT).expect("input"));
    rego
}

/// Runs `rule` of `source` on the VM, with strict built-in errors, and returns its value.
fn on_vm(source: &str, rule: &str) -> Value {
    let mut rego = interpreter(source);
    let policy = rego
        .compile_with_entrypoint(&rule.into())
        .expect("the policy compiles");
    let program: Arc<Program> =
        Compiler::compile_from_policy(&policy, &[rule]).expect("the VM compiles the policy");
    let mut vm = RegoVM::new();
    vm.set_strict_builtin_errors(true);
    vm.load_program(program);
    vm.set_input(Value::from_json_str(INPUT).expect("input"));
    vm.execute_entry_point_by_name(rule)
        .expect("the VM finishes without reporting an error")
}

fn denials(value: &Value) -> usize {
    match value {
        Value::Set(s) => s.len(),
        Value::Undefined => 0,
        other => panic!("deny is a set, got {other}"),
    }
}

#[test]
fn a_deny_rule_that_breaks_is_an_error_in_the_interpreter_and_silence_on_the_vm() {
    let cases = [
        ("divide by zero", "x := 1 / input.zero"),
        ("to_number", "x := to_number(input.text)"),
    ];
    // `what` is also what the interpreter's error names.
    for (what, body) in cases {
        let source = format!(
            "package t\ndeny contains \"broken\" if {{\n  {body}\n  x != 1\n}}\n\
             deny contains \"always\" if true\n"
        );
        let error = interpreter(&source)
            .eval_rule("data.t.deny".into())
            .expect_err(what);
        assert!(error.to_string().contains(what), "{what}: {error}");
        let vm = on_vm(&source, "data.t.deny");
        assert_eq!(
            denials(&vm),
            1,
            "{what}: the VM now reports {vm}; it may no longer fail open"
        );
    }
}

#[test]
fn conflicting_complete_rules_are_an_error_in_the_interpreter_and_undefined_on_the_vm() {
    let source = "package t\nlimit := 1 if input.zero == 0\nlimit := 2 if input.zero == 0\n\
                  deny contains \"over\" if limit > 0\n";
    let error = interpreter(source)
        .eval_rule("data.t.deny".into())
        .expect_err("two values for one complete rule");
    assert!(
        error
            .to_string()
            .contains("rule conflicts with rule at t.rego:2:1"),
        "{error}"
    );
    let vm = on_vm(source, "data.t.deny");
    assert_eq!(
        denials(&vm),
        0,
        "the VM now reports {vm}; it may no longer fail open"
    );
}
