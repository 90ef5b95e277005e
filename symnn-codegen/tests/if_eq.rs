//! `Node::IfEq`, the select behind `sparse_cross_entropy`'s indicator `[k == j]`, at the
//! graph level: its value (exact equality; NaN is equal to nothing), its derivative
//! (through the branches, never the condition), its simplification and its cost. The DSL
//! only builds it with constant branches, so the branch adjoints are checked here.
use symnn_codegen::diff::gradient;
use symnn_codegen::graph::{Graph, Node};
use symnn_codegen::schedule::node_cost;

#[test]
fn value_is_exact_equality() {
    let mut g = Graph::new();
    let k = g.insert(Node::Target(0));
    let two = g.constant(2.0);
    let (one, zero) = (g.constant(1.0), g.constant(0.0));
    let indicator = g.insert(Node::IfEq(k, two, one, zero));
    let at = |k: f64| g.evaluate(&[indicator], &[], &[k], &[])[0];
    assert_eq!(at(2.0), 1.0);
    for k in [
        1.0,
        3.0,
        2.5,
        2.0 + 4.0 * f64::EPSILON,
        -2.0,
        f64::NAN,
        f64::INFINITY,
    ] {
        assert_eq!(at(k), 0.0, "k={k}");
    }
    // Constant operands fold.
    let folded = g.insert(Node::IfEq(two, two, one, zero));
    assert_eq!(g.as_const(folded), Some(1.0));
    let z = g.constant(-0.0);
    let folded = g.insert(Node::IfEq(z, zero, one, zero));
    assert_eq!(g.as_const(folded), Some(1.0), "-0 == 0");
}

#[test]
fn derivative_flows_through_the_branches_only() {
    // L = if k == a { a * b } else { b }: dL/da = [k == a] b, dL/db = [k == a] a + [k != a].
    let mut g = Graph::new();
    let (a, b) = (g.insert(Node::Param(0)), g.insert(Node::Param(1)));
    let k = g.insert(Node::Param(2));
    let ab = g.mul(a, b);
    let l = g.insert(Node::IfEq(k, a, ab, b));
    let grads = gradient(&mut g, l, &[a, b, k]);
    for (k, want) in [(3.0, [5.0, 3.0, 0.0]), (4.0, [0.0, 1.0, 0.0])] {
        let got = g.evaluate(&grads, &[], &[], &[3.0, 5.0, k]);
        assert_eq!(got, want, "k={k}");
    }
    // The condition's operand `k` has no derivative at all (not even a select of 0s).
    assert_eq!(g.as_const(grads[2]), Some(0.0));
}

#[test]
fn equal_branches_collapse_and_cost_one_op() {
    let mut g = Graph::new();
    let (x, y) = (g.insert(Node::Input(0)), g.insert(Node::Input(1)));
    let p = g.insert(Node::Param(0));
    assert_eq!(g.insert(Node::IfEq(x, y, p, p)), p);
    let node = Node::IfEq(x, y, p, x);
    assert_eq!(node.children().collect::<Vec<_>>(), [x, y, p, x]);
    assert_eq!(node_cost(node), (1, 0));
}
