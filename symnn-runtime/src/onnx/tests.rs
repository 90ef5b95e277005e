//! The builder on a hand-written op list: names, shapes, initializers, attributes.

use super::*;

const GROUPS: [ParamGroup; 3] = [
    ParamGroup {
        name: "h.weight",
        shape: &[2, 3],
        offset: 0,
    },
    ParamGroup {
        name: "h.bias",
        shape: &[2],
        offset: 6,
    },
    ParamGroup {
        name: "unused",
        shape: &[],
        offset: 8,
    },
];

/// `tanh(x · Wᵀ + b)` for a 3-2 layer.
const OPS: &[Op] = &[
    Op::Input,
    Op::Param(0),
    Op::Gemm(0, 1, false, true),
    Op::Param(1),
    Op::Binary(Binary::Add, 2, 3),
    Op::Unary(Unary::Tanh, 4),
];

fn spec() -> Spec {
    Spec {
        name: "Layer",
        inputs: 3,
        outputs: 2,
        groups: &GROUPS,
        ops: OPS,
    }
}

#[test]
fn model_has_the_interface_and_the_weights() {
    let params: Vec<f32> = (0..9u8).map(|k| f32::from(k) * 0.5).collect();
    let model = decode(&model(&spec(), &params)).unwrap();
    assert_eq!(model.ir_version, Some(IR_VERSION));
    assert_eq!(model.opset_import[0].version, Some(OPSET));
    let graph = model.graph.unwrap();
    assert_eq!(graph.name.as_deref(), Some("Layer"));
    let dims = |v: &ValueInfoProto| -> Vec<String> {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.clone().unwrap().value else {
            panic!("a tensor")
        };
        assert_eq!(t.elem_type, Some(DataType::Float as i32));
        t.shape
            .unwrap()
            .dim
            .into_iter()
            .map(|d| match d.value.unwrap() {
                dimension::Value::DimValue(v) => v.to_string(),
                dimension::Value::DimParam(p) => p,
            })
            .collect()
    };
    assert_eq!(graph.input[0].name.as_deref(), Some("input"));
    assert_eq!(dims(&graph.input[0]), ["N", "3"]);
    assert_eq!(graph.output[0].name.as_deref(), Some("output"));
    assert_eq!(dims(&graph.output[0]), ["N", "2"]);
    // Only the groups the forward pass reads, with their shapes and values.
    let inits: Vec<(String, Vec<i64>)> = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone().unwrap(), t.dims.clone()))
        .collect();
    assert_eq!(
        inits,
        [
            ("h.weight".to_string(), vec![2, 3]),
            ("h.bias".to_string(), vec![2])
        ]
    );
    let bias = graph.initializer[1].raw_data.as_ref().unwrap();
    assert_eq!(
        bias[..],
        [3.0f32.to_le_bytes(), 3.5f32.to_le_bytes()].concat()
    );
    let ops: Vec<&str> = graph
        .node
        .iter()
        .map(|n| n.op_type.as_deref().unwrap())
        .collect();
    assert_eq!(ops, ["Gemm", "Add", "Tanh"]);
    let gemm = &graph.node[0];
    assert_eq!(gemm.input, ["input", "h.weight"]);
    let trans_b = gemm
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("transB"));
    assert_eq!(trans_b.unwrap().i, Some(1));
    assert_eq!(graph.node[2].output, ["output"]);
}

#[test]
fn f64_models_are_double_and_a_bare_input_gets_an_identity() {
    const IDENTITY: &[Op] = &[Op::Input];
    let spec = Spec {
        ops: IDENTITY,
        outputs: 3,
        ..spec()
    };
    let graph = decode(&model(&spec, &[0.0f64; 9])).unwrap().graph.unwrap();
    assert!(graph.initializer.is_empty());
    assert_eq!(graph.node.len(), 1);
    assert_eq!(graph.node[0].op_type.as_deref(), Some("Identity"));
    assert_eq!(graph.node[0].input, ["input"]);
    let Some(type_proto::Value::TensorType(t)) = graph.input[0].r#type.clone().unwrap().value
    else {
        panic!("a tensor")
    };
    assert_eq!(t.elem_type, Some(DataType::Double as i32));
}
