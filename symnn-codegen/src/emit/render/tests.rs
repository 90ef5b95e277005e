use super::*;
use crate::emit::ir::{GroupValue, MapArg};
use crate::resolved::FloatType;
use crate::tensor::LeafKind;

fn straight(instr: &Instr) -> String {
    Straight::new(Float(FloatType::F64))
        .instr(instr)
        .to_string()
}

fn block() -> Block {
    Block {
        lanes: Lanes {
            float: Float(FloatType::F64),
            lanes: 4,
        },
        inputs: 3,
        targets: 1,
    }
}

const PARAM: Array = Array::Leaf {
    kind: LeafKind::Param,
    offset: 2,
    via_self: false,
};

#[test]
fn straight_line_statements() {
    let update = |grad| Instr::Update { param: 2, grad };
    assert_eq!(
        straight(&update(Operand::Const(1.0))),
        "self . params [2] -= lr ;"
    );
    assert_eq!(
        straight(&update(Operand::Const(-1.0))),
        "self . params [2] += lr ;"
    );
    assert_eq!(
        straight(&update(Operand::Input(0))),
        "self . params [2] -= lr * input [0] ;"
    );
    let by_step = Instr::UpdateByStep {
        param: 1,
        step: Temp::Step(0),
        factor: Some(Operand::Param(4)),
    };
    assert_eq!(
        straight(&by_step),
        "self . params [1] -= __lr0 * __params [4] ;"
    );
    let op = Op::Add(Operand::Temp(Temp::Node(5)), Operand::Const(0.5));
    let named = Instr::Let {
        dst: Temp::Node(6),
        op,
    };
    assert_eq!(straight(&named), "let __t6 : f64 = __t5 + 0.5f64 ;");
    let slot = Instr::Let {
        dst: Temp::Slot(6),
        op,
    };
    assert_eq!(straight(&slot), "__t [6] = __t5 + 0.5f64 ;");
}

#[test]
fn the_same_instruction_on_the_three_targets() {
    let relu = Instr::Let {
        dst: Temp::Node(1),
        op: Op::Call(Func::Relu, Operand::Input(0)),
    };
    assert_eq!(straight(&relu), "let __t1 : f64 = input [0] . max (0f64) ;");
    let lanes = Lanes {
        float: Float(FloatType::F64),
        lanes: 4,
    };
    let expected = "let __t1 = __x [0] . max (:: symnn :: lanes :: Lanes :: < f64 , 4usize > :: splat (0f64)) ;";
    assert_eq!(instr(&lanes, &relu).unwrap().to_string(), expected);
    assert_eq!(instr(&block(), &relu).unwrap().to_string(), expected);
}

/// The documented refusals (`NoBlockForm`): one-sample writes and fused loops have no
/// batch form; every other loop has a block form.
#[test]
fn batch_targets_refuse_exactly_the_documented_instructions() {
    let lanes = Lanes {
        float: Float(FloatType::F64),
        lanes: 4,
    };
    let writes = [
        Instr::Update {
            param: 0,
            grad: Operand::Input(0),
        },
        Instr::AddGrad {
            param: 0,
            value: Operand::Input(0),
        },
        Instr::CallGradient,
        Instr::UpdateAll,
        Instr::AddGradAll,
        Instr::SaveGradients { values: vec![] },
    ];
    for write in &writes {
        assert_eq!(
            instr(&lanes, write).err(),
            Some(NoBlockForm::ParameterWrite)
        );
        assert_eq!(
            instr(&block(), write).err(),
            Some(NoBlockForm::ParameterWrite)
        );
    }
    let x = Array::Temp(7);
    let map = MapLoop {
        len: 2,
        args: vec![MapArg::Array(x), MapArg::Array(PARAM)],
        body: vec![],
        result: Operand::Lane(0),
    };
    let fused = [
        Loop::MatVecMap {
            w: PARAM,
            x,
            rows: 2,
            cols: 2,
            map: map.clone(),
            z_lane: 0,
            map_dst: 9,
        },
        Loop::MatVecTWrite {
            offset: 2,
            d: x,
            h: x,
            rows: 2,
            cols: 2,
            mode: WriteMode::Accumulate,
        },
    ];
    for op in fused {
        let fused = Instr::Loop { dst: 8, op };
        assert_eq!(instr(&block(), &fused).err(), Some(NoBlockForm::FusedLoop));
        assert_eq!(instr(&lanes, &fused).err(), Some(NoBlockForm::TensorLoop));
    }
    let rendered = [
        Loop::Pack(vec![Operand::Input(0), Operand::Const(1.0)]),
        Loop::MatVec {
            w: PARAM,
            x,
            rows: 2,
            cols: 2,
        },
        Loop::MatVec {
            w: x,
            x: PARAM,
            rows: 2,
            cols: 2,
        },
        Loop::MatVecT {
            w: PARAM,
            d: x,
            rows: 2,
            cols: 2,
        },
        Loop::Outer {
            a: x,
            b: PARAM,
            rows: 2,
            cols: 2,
        },
        Loop::MatMul {
            a: x,
            b: x,
            ta: true,
            tb: false,
            m: 2,
            k: 2,
            p: 2,
        },
        Loop::Map(map),
        Loop::Sum(x, 2),
        Loop::Sum(PARAM, 2),
        Loop::Transpose(x, 2, 1),
    ];
    for op in rendered {
        let instr_ = Instr::Loop { dst: 8, op };
        assert!(instr(&block(), &instr_).is_ok(), "{instr_:?}");
        assert_eq!(instr(&lanes, &instr_).err(), Some(NoBlockForm::TensorLoop));
    }
    let group = |value, mode| {
        Instr::WriteGroup(GroupWrite {
            offset: 2,
            rows: 2,
            cols: 2,
            value,
            mode,
        })
    };
    for value in [
        GroupValue::Outer(x, x),
        GroupValue::Outer(x, PARAM),
        GroupValue::Array(x),
        GroupValue::Array(PARAM),
    ] {
        assert!(instr(&block(), &group(value, WriteMode::Accumulate)).is_ok());
        assert_eq!(
            instr(&block(), &group(value, WriteMode::Sgd)).err(),
            Some(NoBlockForm::ParameterWrite)
        );
    }
    assert_eq!(
        block().operand(Operand::Lr).err(),
        Some(NoBlockForm::OneSampleOperand)
    );
}
