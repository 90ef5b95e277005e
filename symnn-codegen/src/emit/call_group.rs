//! Grouped transcendental calls: one-sample code's independent calls of one function
//! (a layer's eight `tanh`s) become one [`Instr::CallGroup`], which the straight-line
//! target renders as a `symnn::math::*_in_place` loop over a local array. The loop
//! vectorises (2 lanes of f64 with SSE2, 4 with the AVX2 copy of the method that
//! [`super::one_sample`] dispatches to), where separate calls run one at a time.
//!
//! A pure IR → IR rewrite, the last before rendering: the other rewrites ([`super::fuse`],
//! [`super::step`]) never see a group.
//!
//! Which calls: runs of consecutive `dst = f(arg)` with the same `f`, no argument
//! reading an earlier `dst` of the run (the schedule emits a layer's calls together).
//! `tanh` is always `symnn::math`'s polynomial, so two calls already pay; `exp`,
//! `sigmoid` and `softplus` call libm in straight-line code (a latency-bound chain is
//! faster with glibc's table-driven `exp`: [`super::render::Straight::latency`]), so
//! they are grouped from [`MIN_LIBM_GROUP`] calls, where throughput wins.

use super::ir::{Instr, Method, Op, Operand, Temp};
use crate::graph::Func;

/// The fewest calls of a function that libm would otherwise evaluate (`exp`,
/// `sigmoid`, `softplus`) worth one vector loop of the polynomial.
pub const MIN_LIBM_GROUP: usize = 4;

/// The fewest calls grouped, for a function with an in-place vector form.
fn min_group(f: Func) -> Option<usize> {
    match f {
        Func::Tanh => Some(2),
        Func::Exp | Func::Sigmoid | Func::Softplus => Some(MIN_LIBM_GROUP),
        Func::Ln | Func::Sqrt | Func::Abs | Func::Sin | Func::Cos | Func::Relu => None,
    }
}

/// `method` with its calls grouped ([`group_calls`]).
pub fn grouped(method: Method) -> Method {
    Method {
        instrs: group_calls(method.instrs),
        ..method
    }
}

/// `instrs` with each run of groupable calls replaced by one [`Instr::CallGroup`].
pub fn group_calls(instrs: Vec<Instr>) -> Vec<Instr> {
    let mut out = Vec::with_capacity(instrs.len());
    let mut run: Vec<(Temp, Operand)> = Vec::new();
    let mut run_func = None;
    let mut groups = 0;
    for instr in instrs {
        let call = match instr {
            Instr::Let {
                dst,
                op: Op::Call(f, arg),
            } if min_group(f).is_some() => Some((f, dst, arg)),
            _ => None,
        };
        match call {
            Some((f, dst, arg))
                if run_func == Some(f) && !run.iter().any(|&(d, _)| arg == Operand::Temp(d)) =>
            {
                run.push((dst, arg));
            }
            Some((f, dst, arg)) => {
                flush(&mut out, &mut run, run_func, &mut groups);
                run_func = Some(f);
                run.push((dst, arg));
            }
            None => {
                flush(&mut out, &mut run, run_func, &mut groups);
                run_func = None;
                out.push(instr);
            }
        }
    }
    flush(&mut out, &mut run, run_func, &mut groups);
    out
}

/// Ends a run: a group if it is long enough, else its calls as they were.
fn flush(
    out: &mut Vec<Instr>,
    run: &mut Vec<(Temp, Operand)>,
    func: Option<Func>,
    groups: &mut u32,
) {
    let Some(func) = func else {
        return;
    };
    let calls = std::mem::take(run);
    if min_group(func).is_some_and(|min| calls.len() >= min) {
        out.push(Instr::CallGroup {
            id: *groups,
            func,
            calls,
        });
        *groups += 1;
    } else {
        out.extend(calls.into_iter().map(|(dst, arg)| Instr::Let {
            dst,
            op: Op::Call(func, arg),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: Func, dst: u32, arg: Operand) -> Instr {
        Instr::Let {
            dst: Temp::Node(dst),
            op: Op::Call(f, arg),
        }
    }

    #[test]
    fn a_run_of_tanh_becomes_one_group() {
        let instrs = vec![
            call(Func::Tanh, 10, Operand::Input(0)),
            call(Func::Tanh, 11, Operand::Input(1)),
            call(Func::Tanh, 12, Operand::Param(0)),
        ];
        let grouped = group_calls(instrs);
        assert_eq!(
            grouped,
            vec![Instr::CallGroup {
                id: 0,
                func: Func::Tanh,
                calls: vec![
                    (Temp::Node(10), Operand::Input(0)),
                    (Temp::Node(11), Operand::Input(1)),
                    (Temp::Node(12), Operand::Param(0)),
                ],
            }]
        );
    }

    #[test]
    fn a_call_reading_the_run_starts_a_new_one() {
        let instrs = vec![
            call(Func::Tanh, 10, Operand::Input(0)),
            call(Func::Tanh, 11, Operand::Input(1)),
            call(Func::Tanh, 12, Operand::Temp(Temp::Node(10))),
            call(Func::Tanh, 13, Operand::Input(2)),
        ];
        let grouped = group_calls(instrs);
        assert_eq!(grouped.len(), 2);
        assert!(matches!(&grouped[0], Instr::CallGroup { id: 0, calls, .. } if calls.len() == 2));
        assert!(matches!(&grouped[1], Instr::CallGroup { id: 1, calls, .. } if calls.len() == 2));
    }

    #[test]
    fn short_runs_of_libm_functions_and_other_functions_stay_calls() {
        let instrs = vec![
            call(Func::Exp, 10, Operand::Input(0)),
            call(Func::Exp, 11, Operand::Input(1)),
            call(Func::Sigmoid, 12, Operand::Input(0)),
            call(Func::Sin, 13, Operand::Input(0)),
            call(Func::Sin, 14, Operand::Input(1)),
            call(Func::Tanh, 15, Operand::Input(0)),
        ];
        assert_eq!(group_calls(instrs.clone()), instrs);
        let exps: Vec<Instr> = (0..MIN_LIBM_GROUP)
            .map(|k| call(Func::Exp, 20 + k as u32, Operand::Input(k)))
            .collect();
        assert!(matches!(
            group_calls(exps).as_slice(),
            [Instr::CallGroup {
                func: Func::Exp,
                ..
            }]
        ));
    }

    #[test]
    fn other_instructions_end_a_run_and_keep_their_place() {
        let mul = Instr::Let {
            dst: Temp::Node(20),
            op: Op::Mul(Operand::Input(0), Operand::Input(1)),
        };
        let instrs = vec![
            call(Func::Tanh, 10, Operand::Input(0)),
            call(Func::Tanh, 11, Operand::Input(1)),
            mul.clone(),
            call(Func::Tanh, 12, Operand::Input(2)),
        ];
        let grouped = group_calls(instrs);
        assert_eq!(grouped.len(), 3);
        assert!(matches!(&grouped[0], Instr::CallGroup { calls, .. } if calls.len() == 2));
        assert_eq!(grouped[1], mul);
        assert_eq!(grouped[2], call(Func::Tanh, 12, Operand::Input(2)));
    }
}
