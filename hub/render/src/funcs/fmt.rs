//! Go's `fmt` formatting as templates see it: `print`, `println` and `printf` verbs.

use crate::value::Value;

/// `fmt.Sprint`: operands joined, with a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut previous_is_string = true;
    for arg in args {
        let is_string = matches!(arg, Value::Str(_));
        if !previous_is_string && !is_string {
            out.push(' ');
        }
        arg.write_go(&mut out);
        previous_is_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands joined by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        arg.write_go(&mut out);
    }
    out.push('\n');
    out
}
