//! The op lists of a few networks (the numbers are checked in onnxruntime by the
//! root crate's `tests/onnx.rs`).

use quote::quote;

use super::{ops, Binary, Op, Unary};

fn ops_of(body: proc_macro2::TokenStream) -> Vec<Op> {
    let (_, derived) = crate::derive(body).expect("a valid network");
    ops(derived.onnx.as_ref().expect("no rolled loop"))
}

#[test]
fn a_dense_layer_is_a_gemm_in_both_tiers() {
    for threshold in [quote!(0), quote!(1000000)] {
        let ops = ops_of(quote! {
            #[symnn(tensor_threshold = #threshold)]
            struct Net {
                input x[4];
                target t[3];
                let h = dense(x, 16, tanh);
                output z = dense(h, 3, identity);
                loss = cross_entropy(z, t);
            }
        });
        assert_eq!(
            ops,
            [
                Op::Input,
                Op::Param(0),
                Op::Param(1),
                Op::Gemm(0, 1, false, true),
                Op::Binary(Binary::Add, 3, 2),
                Op::Unary(Unary::Tanh, 4),
                Op::Param(2),
                Op::Param(3),
                Op::Gemm(5, 6, false, true),
                Op::Binary(Binary::Add, 8, 7),
            ]
        );
    }
}

#[test]
fn a_softmax_output_is_one_softmax_op() {
    let ops = ops_of(quote! {
        struct Net {
            input x[4];
            target t[3];
            param W[3][4];
            output y = softmax(W * x);
            loss = mse(y, t);
        }
    });
    assert_eq!(
        ops,
        [
            Op::Param(0),
            Op::Input,
            Op::Gemm(1, 0, false, true),
            Op::Softmax(2),
        ]
    );
}

#[test]
fn scalar_formulas_are_columns_and_leaky_relu_is_where() {
    let ops = ops_of(quote! {
        struct Net {
            input a, b;
            target t;
            param w = 0.5;
            output y = leaky_relu(a - b, w) + max(a, b);
            loss = sq(y - t);
        }
    });
    assert!(ops.contains(&Op::Columns(0, 0, 1)));
    assert!(ops.contains(&Op::Columns(0, 1, 2)));
    assert!(ops.iter().any(|o| matches!(o, Op::Where(..))));
    assert!(ops.iter().any(|o| matches!(o, Op::Binary(Binary::Max, ..))));
}

#[test]
fn f64_softplus_is_decomposed_and_f32_is_the_operator() {
    let body = |float: proc_macro2::TokenStream| {
        ops_of(quote! {
            struct Net {
                type Float = #float;
                input x[2];
                target t[2];
                output y = softplus(x);
                loss = mse(y, t);
            }
        })
    };
    let has_softplus = |ops: &[Op]| {
        ops.iter()
            .any(|o| matches!(o, Op::Unary(Unary::Softplus, _)))
    };
    assert!(has_softplus(&body(quote!(f32))));
    let f64_ops = body(quote!(f64));
    assert!(!has_softplus(&f64_ops));
    assert!(f64_ops
        .iter()
        .any(|o| matches!(o, Op::Unary(Unary::Log, _))));
}
