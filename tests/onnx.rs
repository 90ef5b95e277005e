//! ONNX export (`to_onnx`, feature `onnx`): every network here is exported, decoded
//! again with the same protobuf code (names, shapes, initializer values), and written
//! with a batch of inputs and `forward`'s outputs to a directory that
//! `scripts/onnx_check.py` runs through onnxruntime.
//!
//! The networks: the seeds (examples/seed_000.rs, seed_003.rs, seed_004.rs), iris
//! (4-16-3), digits (64-32-10) and MNIST-shaped (784-128-10) classifiers on rows of
//! their data sets, a softmax and a log-softmax output, and one network with every
//! builtin function, a user `fn`, `max`/`min`/`leaky_relu`, powers, matrix inputs,
//! transposes and `diff` outputs (whose derivatives hold the `if`s); each in f32 and
//! f64, and each in the scalar tier (`tensor_threshold` above the largest layer) and
//! the tensor tier (`tensor_threshold = 0`) — but MNIST, which is only practical in
//! the tensor tier.
//!
//! With `SYMNN_ONNX_PYTHON` set to a Python that has `onnxruntime` and `numpy` (`.ci/run`
//! makes a venv), the test runs the script and fails if any output differs from
//! `forward`'s by more than 1e-5 relative; without it, it says that it skipped that part.
#![allow(non_snake_case)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use symnn::onnx::proto::tensor_proto::DataType;
use symnn::onnx::proto::{tensor_shape_proto::dimension, type_proto, ValueInfoProto};
use symnn::{network, Float, Model};

/// One DSL body as four networks: f64/f32 × scalar/tensor tier.
macro_rules! four {
    ($f64s:ident, $f64t:ident, $f32s:ident, $f32t:ident, { $($body:tt)* }) => {
        network! {
            #[symnn(tensor_threshold = 1000000)]
            pub struct $f64s { type Float = f64; $($body)* }
        }
        network! {
            #[symnn(tensor_threshold = 0)]
            pub struct $f64t { type Float = f64; $($body)* }
        }
        network! {
            #[symnn(tensor_threshold = 1000000)]
            pub struct $f32s { type Float = f32; $($body)* }
        }
        network! {
            #[symnn(tensor_threshold = 0)]
            pub struct $f32t { type Float = f32; $($body)* }
        }
    };
}

four!(Seed000S64, Seed000T64, Seed000S32, Seed000T32, {
    input x1;
    target y_t;
    param W[2][2] = [[0.5, -0.3], [0.8, 0.2]], u[3] = [0.1, -0.4, 0.6];
    let x = [1.0, x1];
    let h = [1.0, relu(dot(W[0], x)), relu(dot(W[1], x))];
    output y = dot(u, h);
    loss = 0.5 * mse([y_t], [y]);
});

four!(Seed000HS64, Seed000HT64, Seed000HS32, Seed000HT32, {
    input x1;
    param W[2][2] = [[0.5, -0.3], [0.8, 0.2]], u[3];
    let x = [1.0, x1];
    let h = [1.0, relu(dot(W[0], x)), relu(dot(W[1], x))];
    output out = h;
    loss = sum(h);
});

four!(Seed003S64, Seed003T64, Seed003S32, Seed003T32, {
    input x1, x2;
    target y;
    param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
    let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
    let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
    output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
    loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
});

four!(Seed004S64, Seed004T64, Seed004S32, Seed004T32, {
    input X;
    target Y;
    param W1 = 0.5, B1 = 0.1, W2 = -0.8, B2 = 0.3;
    let Z1 = X * W1 + B1;
    let A1 = relu(Z1);
    let Z2 = A1 * W2 + B2;
    let A2 = sigmoid(Z2);
    output out = A2;
    loss = (A2 - Y).powi(2);
});

four!(IrisS64, IrisT64, IrisS32, IrisT32, {
    input x[4];
    target t[3];
    let h = dense(x, 16, tanh);
    output z = dense(h, 3, identity);
    loss = cross_entropy(z, t);
});

four!(DigitsS64, DigitsT64, DigitsS32, DigitsT32, {
    input x[64];
    target t[10];
    let h = dense(x, 32, tanh);
    output z = dense(h, 10, identity);
    loss = cross_entropy(z, t);
});

network! {
    pub struct Mnist32 {
        type Float = f32;
        input x[784];
        target k;
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

network! {
    pub struct Mnist64 {
        input x[784];
        target k;
        let h = dense(x, 128, relu);
        output z = dense(h, 10, identity);
        loss = sparse_cross_entropy(z, k);
    }
}

four!(SoftmaxS64, SoftmaxT64, SoftmaxS32, SoftmaxT32, {
    input x[4];
    target t[3];
    let h = dense(x, 8, sigmoid);
    output p = softmax(dense(h, 3, identity));
    loss = mse(p, t);
});

four!(LogSoftmaxS64, LogSoftmaxT64, LogSoftmaxS32, LogSoftmaxT32, {
    input x[4];
    target t[5];
    param W[5][4], b[5];
    output p = log_softmax(relu(W * x + b) - 0.5 * x[0]);
    loss = -sum(t * p);
});

// Every builtin function (exp ln sqrt abs sin cos tanh sigmoid relu softplus
// leaky_relu sq powi pow max min identity sum mean dot softmax log_softmax transpose),
// user `fn`s (elementwise and shaped), a matrix input, products of batched matrices,
// a parameter-only product, constants, and `diff` (relu/abs/max/min/pow derivatives:
// Greater, GreaterOrEqual and Equal selects).
four!(EveryS64, EveryT64, EveryS32, EveryT32, {
    input x[3], s, M[2][3];
    target t;
    param W[4][3], b[4], V[2][4], c = 0.7, p = 1.5;
    fn act(u) = u * sigmoid(u) + 0.1 * softplus(-u);
    fn g(z[3]) = sum(tanh(W * z + b)) * c;
    let h = act(W * x + b);
    let v = V * h;
    let k = [1.0, -2.0, 0.5];
    let m = transpose(W) * b;
    let mv = M * x;
    let mt = transpose(M) * v;
    let sm = softmax(v * 3.0);
    let ls = log_softmax(h);
    let d = diff(sum(tanh(x * s)) + relu(x[0] - s) + abs(x[2]) + max(x[1], s) + min(x[0], x[2]), x);
    let dp = diff(pow(abs(x[0]) + 0.5, s) + pow(abs(x[1]), p), s);
    output y = [
        exp(x[0] * 0.5), ln(sq(x[1]) + 1.0), sqrt(abs(x[2]) + 0.1), sin(x[0]), cos(x[1]),
        tanh(s), relu(x[2] - 0.2), softplus(x[0] * 3.0), softplus(-40.0 - s), sigmoid(s * 2.0),
        leaky_relu(x[1], 0.1), identity(x[2]), x[0].powi(2), powi(x[1], 3), powi(x[2] + 2.5, -1),
        powi(s + 3.0, -2), powi(x[0], 5), pow(abs(x[0]) + 0.5, x[1]), max(x[0], x[1]),
        min(s, x[2]), abs(s), v[0], v[1], g(x), dot(x, m), mean(h), sum(h * c), dot(k, x),
        mv[0], mv[1], mt[0], mt[1], mt[2], sm[0], sm[1], ls[0], ls[3], d[0], d[1], d[2], dp,
        c * p, sum(M), leaky_relu(s, p)
    ];
    loss = sq(y[0] - t);
});

/// Deterministic points in [-scale, scale).
fn points(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = symnn::init::SplitMix64::new(seed);
    (0..n).map(|_| rng.symmetric(scale)).collect()
}

/// The cases written so far, and where.
struct Cases {
    dir: PathBuf,
    manifest: String,
    count: usize,
}

impl Cases {
    fn new() -> Cases {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Cases {
            dir,
            manifest: String::new(),
            count: 0,
        }
    }

    /// Exports `net`, checks the decoded model, and writes it with `inputs` (rows of
    /// `M::NUM_INPUTS`) and `forward`'s outputs.
    fn add<M: Model>(&mut self, name: &str, net: &M, onnx: &[u8], inputs: &[f64]) {
        let (i, o) = (M::NUM_INPUTS, M::NUM_OUTPUTS);
        let n = inputs.len() / i.max(1);
        let x: Vec<M::Float> = inputs.iter().map(|&v| M::Float::from_f64(v)).collect();
        let mut y = vec![M::Float::ZERO; n * o];
        for r in 0..n {
            net.forward_slice(&x[r * i..(r + 1) * i], &mut y[r * o..(r + 1) * o]);
        }
        check_decoded::<M>(name, net, onnx);
        std::fs::write(self.dir.join(format!("{name}.onnx")), onnx).unwrap();
        std::fs::write(self.dir.join(format!("{name}.input")), bytes(&x)).unwrap();
        std::fs::write(self.dir.join(format!("{name}.expected")), bytes(&y)).unwrap();
        let dtype = if size_of::<M::Float>() == 4 {
            "float32"
        } else {
            "float64"
        };
        writeln!(self.manifest, "{name} {dtype} {n} {i} {o}").unwrap();
        self.count += 1;
    }
}

fn bytes<F: Float>(values: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        if size_of::<F>() == 4 {
            out.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_f64().to_le_bytes());
        }
    }
    out
}

/// The model's interface and initializers, read back with the same protobuf code.
fn check_decoded<M: Model>(name: &str, net: &M, onnx: &[u8]) {
    let model = symnn::onnx::decode(onnx).unwrap();
    assert_eq!(model.ir_version, Some(symnn::onnx::IR_VERSION), "{name}");
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!(model.opset_import[0].version, Some(symnn::onnx::OPSET));
    let graph = model.graph.unwrap();
    let dtype = if size_of::<M::Float>() == 4 {
        DataType::Float
    } else {
        DataType::Double
    } as i32;
    let interface = |v: &ValueInfoProto| -> (String, i32, Vec<String>) {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.clone().unwrap().value else {
            panic!("{name}: not a tensor")
        };
        let dims = t
            .shape
            .unwrap()
            .dim
            .into_iter()
            .map(|d| match d.value.unwrap() {
                dimension::Value::DimValue(v) => v.to_string(),
                dimension::Value::DimParam(p) => p,
            });
        (
            v.name.clone().unwrap(),
            t.elem_type.unwrap(),
            dims.collect(),
        )
    };
    let [input] = &graph.input[..] else {
        panic!("{name}: one input")
    };
    let [output] = &graph.output[..] else {
        panic!("{name}: one output")
    };
    let n = "N".to_string();
    assert_eq!(
        interface(input),
        (
            "input".into(),
            dtype,
            vec![n.clone(), M::NUM_INPUTS.to_string()]
        ),
        "{name}"
    );
    assert_eq!(
        interface(output),
        ("output".into(), dtype, vec![n, M::NUM_OUTPUTS.to_string()]),
        "{name}"
    );
    // Initializers: parameter groups, by name, with their shapes and values.
    let params = net.params();
    for init in &graph.initializer {
        let init_name = init.name.clone().unwrap();
        let group = M::param_groups()
            .iter()
            .find(|g| g.name == init_name)
            .unwrap_or_else(|| panic!("{name}: initializer {init_name} is no parameter group"));
        let dims: Vec<i64> = group.shape.iter().map(|&d| d as i64).collect();
        assert_eq!(init.dims, dims, "{name}: {init_name}");
        assert_eq!(init.data_type, Some(dtype));
        let values = &params[group.offset..group.offset + group.len()];
        assert_eq!(
            init.raw_data.as_deref(),
            Some(&bytes(values)[..]),
            "{name}: {init_name}"
        );
    }
    // Every node's inputs are defined before it (the list is topologically sorted).
    let mut defined: Vec<String> = graph
        .initializer
        .iter()
        .map(|t| t.name.clone().unwrap())
        .collect();
    defined.push("input".into());
    for node in &graph.node {
        for i in &node.input {
            assert!(defined.contains(i), "{name}: {i} read before it is defined");
        }
        defined.extend(node.output.iter().cloned());
    }
    assert!(defined.contains(&"output".to_string()), "{name}: no output");
}

/// `n` rows of random inputs in [-2, 2) for a network with `i` inputs.
fn random_rows(n: usize, i: usize, seed: u64) -> Vec<f64> {
    points(n * i, seed, 2.0)
}

macro_rules! add {
    ($cases:expr, $rows:expr, $($net:ident),*) => {
        $(
            let net = $net::new();
            $cases.add(stringify!($net), &net, &net.to_onnx(), &$rows(<$net as Model>::NUM_INPUTS));
        )*
    };
}

fn all_cases() -> Cases {
    let mut cases = Cases::new();
    let random = |i: usize| random_rows(64, i, 3 + i as u64);
    add!(cases, random, Seed000S64, Seed000T64, Seed000S32, Seed000T32);
    add!(
        cases,
        random,
        Seed000HS64,
        Seed000HT64,
        Seed000HS32,
        Seed000HT32
    );
    add!(cases, random, Seed003S64, Seed003T64, Seed003S32, Seed003T32);
    add!(cases, random, Seed004S64, Seed004T64, Seed004S32, Seed004T32);
    add!(cases, random, SoftmaxS64, SoftmaxT64, SoftmaxS32, SoftmaxT32);
    add!(
        cases,
        random,
        LogSoftmaxS64,
        LogSoftmaxT64,
        LogSoftmaxS32,
        LogSoftmaxT32
    );
    add!(cases, random, EveryS64, EveryT64, EveryS32, EveryT32);
    // The data sets' first rows (iris and digits raw, MNIST's test images in [0, 1]).
    let iris = symnn::datasets::iris::<f64>().data;
    let iris_rows = |_| iris.inputs()[..40 * 4].to_vec();
    add!(cases, iris_rows, IrisS64, IrisT64, IrisS32, IrisT32);
    let digits = symnn::datasets::digits::<f64>().data;
    let digits_rows = |_| digits.inputs()[..40 * 64].to_vec();
    add!(
        cases,
        digits_rows,
        DigitsS64,
        DigitsT64,
        DigitsS32,
        DigitsT32
    );
    let images = symnn::data::read_idx(
        Path::new(symnn::datasets::MNIST_DIR).join("t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let mnist_rows = |_| {
        images.data()[..32 * 784]
            .iter()
            .map(|&p| f64::from(p) / 255.0)
            .collect::<Vec<f64>>()
    };
    // Large parameter arrays: on the heap.
    let net = Mnist32::with_seed_boxed(5);
    cases.add("Mnist32", &*net, &net.to_onnx(), &mnist_rows(784));
    let net = Mnist64::with_seed_boxed(5);
    cases.add("Mnist64", &*net, &net.to_onnx(), &mnist_rows(784));
    cases
}

#[test]
fn exported_models_decode_and_match_forward_in_onnxruntime() {
    let cases = all_cases();
    std::fs::write(cases.dir.join("manifest.txt"), &cases.manifest).unwrap();
    println!("{} models in {}", cases.count, cases.dir.display());
    let Some(python) = std::env::var_os("SYMNN_ONNX_PYTHON") else {
        println!(
            "onnxruntime check skipped: set SYMNN_ONNX_PYTHON to a Python with onnxruntime \
             and numpy (`.ci/run` makes a venv) to run scripts/onnx_check.py"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/onnx_check.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&cases.dir)
        .output()
        .expect("runs python");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/onnx_check.py failed");
}

#[test]
fn mnist_model_is_compact() {
    let net = Mnist32::with_seed_boxed(1);
    let graph = symnn::onnx::decode(&net.to_onnx()).unwrap().graph.unwrap();
    let ops: Vec<&str> = graph
        .node
        .iter()
        .map(|n| n.op_type.as_deref().unwrap())
        .collect();
    assert_eq!(ops, ["Gemm", "Add", "Relu", "Gemm", "Add"]);
    let names: Vec<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["h.weight", "h.bias", "z.weight", "z.bias"]);
    assert_eq!(graph.initializer[0].dims, [128, 784]);
}
