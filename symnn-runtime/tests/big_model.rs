//! The runtime with a model bigger than a thread's stack.
//!
//! A `network!` struct *is* its parameter array, so a 784-128-10 net in `f64` is 814 KB
//! and a 784-256-256-10 one 2.3 MB. Test threads and rayon workers have 2 MiB stacks:
//! generic code that returns, clones or copies such a model by value, or builds a
//! `[F; P]` temporary, overflows them. This test trains a hand-written model laid out
//! like a generated one (`#[repr(transparent)]` over `[f64; P]`, P = 305 290, 2.4 MB,
//! more than the whole stack) with the `Trainer` on a thread spawned with a 2 MiB
//! stack, then runs the metrics and checkpoint round trips on it. Any by-value copy of
//! the model in those code paths aborts the test process with a stack overflow.
//!
//! The engine cannot compile a `network!` this large yet, so the model is written by
//! hand: a 784-384-10 ReLU net with softmax cross-entropy, gradient derived by hand and
//! spot-checked against finite differences below.
// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

mod common;

use symnn_runtime::{
    checkpoint, metrics, Adam, Cost, Dataset, LrSchedule, Model, ParamGroup, Trainer,
};

const IN: usize = 784;
const HID: usize = 384;
const OUT: usize = 10;
const W1: usize = 0;
const B1: usize = HID * IN;
const W2: usize = B1 + HID;
const B2: usize = W2 + OUT * HID;
const P: usize = B2 + OUT;
/// What `std::thread` gives test threads (`RUST_MIN_STACK` unset) and rayon its workers.
const STACK: usize = 2 << 20;

/// The model is larger than the stack the test runs on, so it cannot exist there even once.
const _: () = assert!(P >= 300_000 && std::mem::size_of::<Big>() > STACK);

/// 784-384-10, ReLU hidden layer, logits out, `L = -sum_c t_c log softmax(z)_c`.
/// Parameters in a generated net's order: hidden weight `[HID][IN]`, hidden bias,
/// output weight `[OUT][HID]`, output bias.
#[derive(Clone, Debug, PartialEq)]
#[repr(transparent)]
struct Big {
    params: [f64; P],
}

static GROUPS: [ParamGroup; 4] = [
    ParamGroup {
        name: "h.weight",
        shape: &[HID, IN],
        offset: W1,
    },
    ParamGroup {
        name: "h.bias",
        shape: &[HID],
        offset: B1,
    },
    ParamGroup {
        name: "z.weight",
        shape: &[OUT, HID],
        offset: W2,
    },
    ParamGroup {
        name: "z.bias",
        shape: &[OUT],
        offset: B2,
    },
];

/// One name per parameter, built once (`Model::param_names` returns a static slice).
fn names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        GROUPS
            .iter()
            .flat_map(|g| {
                (0..g.len()).map(move |k| {
                    let name = match g.shape {
                        [_, cols] => format!("{}[{}][{}]", g.name, k / cols, k % cols),
                        _ => format!("{}[{k}]", g.name),
                    };
                    &*Box::leak(name.into_boxed_str())
                })
            })
            .collect()
    })
}

impl Big {
    /// A zeroed `Box<Big>` allocated directly on the heap.
    fn zeroed() -> Box<Big> {
        let layout = std::alloc::Layout::new::<Big>();
        // SAFETY: `Big` is a plain array of f64, for which all-zero bytes are 0.0; the
        // pointer comes from the global allocator with `Big`'s layout, as `Box` expects.
        unsafe {
            let ptr = std::alloc::alloc_zeroed(layout).cast::<Big>();
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(ptr)
        }
    }

    /// Hidden activations and logits.
    fn activations(&self, x: &[f64]) -> (Vec<f64>, [f64; OUT]) {
        let p = &self.params;
        let h: Vec<f64> = (0..HID)
            .map(|j| {
                let row = &p[W1 + j * IN..W1 + (j + 1) * IN];
                let s: f64 = row.iter().zip(x).map(|(w, x)| w * x).sum();
                (s + p[B1 + j]).max(0.0)
            })
            .collect();
        let mut z = [0.0; OUT];
        for c in 0..OUT {
            let row = &p[W2 + c * HID..W2 + (c + 1) * HID];
            z[c] = p[B2 + c] + row.iter().zip(&h).map(|(w, h)| w * h).sum::<f64>();
        }
        (h, z)
    }

    /// Log-softmax of the logits, computed stably.
    fn log_softmax(z: &[f64; OUT]) -> [f64; OUT] {
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
        z.map(|v| v - lse)
    }

    fn loss_of(logp: &[f64; OUT], t: &[f64]) -> f64 {
        -(0..OUT).map(|c| t[c] * logp[c]).sum::<f64>()
    }
}

impl Model for Big {
    type Float = f64;
    const NUM_PARAMS: usize = P;
    const NUM_INPUTS: usize = IN;
    const NUM_TARGETS: usize = OUT;
    const NUM_OUTPUTS: usize = OUT;
    fn param_names() -> &'static [&'static str] {
        names()
    }
    fn param_groups() -> &'static [ParamGroup] {
        &GROUPS
    }
    fn cost() -> Cost {
        Cost::default()
    }
    fn derivation() -> &'static str {
        "h = relu(W1 x + b1); z = W2 h + b2; L = -sum(t * log_softmax(z))"
    }
    fn params(&self) -> &[f64] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }
    /// Glorot-uniform weights, zero biases (the `network!` scheme, other stream).
    fn with_seed_boxed(seed: u64) -> Box<Self> {
        let mut model = Big::zeroed();
        let mut rng = symnn_runtime::init::SplitMix64::new(seed);
        for g in [&GROUPS[0], &GROUPS[2]] {
            let (rows, cols) = (g.shape[0], g.shape[1]);
            for v in &mut model.params[g.offset..g.offset + g.len()] {
                *v = rng.glorot_uniform(cols, rows);
            }
        }
        model
    }
    fn forward_slice(&self, input: &[f64], output: &mut [f64]) {
        output.copy_from_slice(&self.activations(input).1);
    }
    fn loss_slice(&self, input: &[f64], target: &[f64]) -> f64 {
        Big::loss_of(&Big::log_softmax(&self.activations(input).1), target)
    }
    /// dL/dz_c = softmax_c sum(t) - t_c; dL/dh_j = sum_c W2[c][j] dz_c, through ReLU
    /// where h_j > 0; dW1[j][i] = dh_j x_i, dW2[c][j] = dz_c h_j, biases the adjoints.
    fn accumulate_gradient_slice(&self, input: &[f64], target: &[f64], grad: &mut [f64]) -> f64 {
        assert_eq!(grad.len(), P);
        let (h, z) = self.activations(input);
        let logp = Big::log_softmax(&z);
        let st: f64 = target.iter().sum();
        let p = &self.params;
        let mut dh = vec![0.0; HID];
        for c in 0..OUT {
            let dz = logp[c].exp() * st - target[c];
            for j in 0..HID {
                dh[j] += p[W2 + c * HID + j] * dz;
                grad[W2 + c * HID + j] += dz * h[j];
            }
            grad[B2 + c] += dz;
        }
        for j in 0..HID {
            if h[j] > 0.0 {
                let d = dh[j];
                let row = &mut grad[W1 + j * IN..W1 + (j + 1) * IN];
                for (g, x) in row.iter_mut().zip(input) {
                    *g += d * x;
                }
                grad[B1 + j] += d;
            }
        }
        Big::loss_of(&logp, target)
    }
    fn sgd_step_slice(&mut self, input: &[f64], target: &[f64], lr: f64) -> f64 {
        let mut grad = vec![0.0; P];
        let loss = self.accumulate_gradient_slice(input, target, &mut grad);
        for (p, g) in self.params.iter_mut().zip(&grad) {
            *p -= lr * g;
        }
        loss
    }
}

/// `n` samples with a learnable rule: 784 values in [0, 1), class = which tenth of the
/// image holds the largest sum.
fn data(n: usize, seed: u64) -> Dataset<f64> {
    let mut rng = symnn_runtime::init::SplitMix64::new(seed);
    let mut features = Vec::with_capacity(n * IN);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let x: Vec<f64> = (0..IN).map(|_| rng.next_f64()).collect();
        let label = (0..OUT)
            .map(|c| x[c * 78..(c + 1) * 78].iter().sum::<f64>())
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, _)| c)
            .unwrap();
        features.extend(x);
        labels.push(label);
    }
    Dataset::classification(features, IN, labels, OUT).unwrap()
}

/// Runs `f` on a thread with a 2 MiB stack (not the test harness's, which
/// `RUST_MIN_STACK` can enlarge) and propagates its panic.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name("2 MiB stack".into())
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

#[test]
fn hand_derived_gradient_matches_finite_differences() {
    on_small_stack(|| {
        let mut model = Big::with_seed_boxed(3);
        let train = data(1, 9);
        let (x, t) = train.get(0);
        let mut grad = vec![0.0; P];
        let loss = model.gradient_into_slice(x, t, &mut grad);
        assert!((loss - model.loss_slice(x, t)).abs() < 1e-12);
        // A few weights of each group (perturbed in place: no second model).
        for i in [0, 1 + IN, B1 - 1, B1, B1 + 7, W2, W2 + HID + 5, B2, B2 + 9] {
            let h = 1e-6;
            let old = model.params[i];
            model.params[i] = old + h;
            let plus = model.loss_slice(x, t);
            model.params[i] = old - h;
            let minus = model.loss_slice(x, t);
            model.params[i] = old;
            let fd = (plus - minus) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "param {} ({i}): fd {fd} vs {}",
                Big::param_names()[i],
                grad[i]
            );
        }
    });
}

#[test]
fn trainer_metrics_and_checkpoints_run_on_a_2_mib_stack() {
    on_small_stack(|| {
        let train = data(48, 1);
        let test = data(16, 2);
        let mut model = Big::with_seed_boxed(1);
        let start = model.params.to_vec();
        // Adam state, early stopping (best parameters kept and restored), gradient
        // clipping and a metric: every per-model buffer of the trainer.
        let history = Trainer::new(Adam::new(1e-3))
            .epochs(3)
            .batch_size(16)
            .seed(5)
            .lr_schedule(LrSchedule::cosine(3, 0.1))
            .clip_grad_norm(10.0)
            .metric("accuracy", metrics::accuracy)
            .early_stopping(5, 0.0)
            .fit(&mut *model, &train, Some(&test))
            .unwrap();
        assert_eq!(history.reports.len(), 3);
        assert_eq!(history.last().unwrap().steps, 9);
        let (first, last) = (&history.reports[0], history.last().unwrap());
        assert!(
            last.train_loss < first.train_loss,
            "training loss did not drop: {} -> {}",
            first.train_loss,
            last.train_loss
        );
        assert!(model.params.iter().zip(&start).any(|(a, b)| a != b));

        // The iterator form, continuing from the trained model.
        let mut trainer = Trainer::new(Adam::new(1e-3)).epochs(1).batch_size(48);
        for report in trainer.iter_epochs(&mut *model, &train, None).unwrap() {
            assert!(report.unwrap().train_loss.is_finite());
        }

        // Metrics.
        let outputs = metrics::predict(&*model, &test);
        assert_eq!(outputs.len(), test.len() * OUT);
        let accuracy = metrics::accuracy(&*model, &test);
        let cm = metrics::ConfusionMatrix::from_model(&*model, &test, OUT);
        assert_eq!(cm.total(), test.len());
        assert!((cm.accuracy() - accuracy).abs() < 1e-15);
        assert!(metrics::mean_loss(&*model, &test).is_finite());

        // Checkpoints into a differently initialised boxed model, and `from_params_boxed`.
        #[cfg(feature = "safetensors")]
        {
            let bytes = checkpoint::to_safetensors(&*model).unwrap();
            let mut reloaded = Big::with_seed_boxed(2);
            checkpoint::from_safetensors(&mut *reloaded, &bytes).unwrap();
            assert!(reloaded.params == model.params, "safetensors round trip");
        }
        let json = checkpoint::to_json(&*model).unwrap();
        let mut from_json = Big::with_seed_boxed(3);
        checkpoint::from_json(&mut *from_json, &json).unwrap();
        assert!(from_json.params == model.params, "JSON round trip");
        let copy = Big::from_params_boxed(model.params());
        assert!(copy.params == model.params);
        assert_eq!(metrics::predict(&*copy, &test), outputs);
    });
}

#[test]
#[cfg(feature = "safetensors")]
fn files_round_trip_on_a_2_mib_stack() {
    on_small_stack(|| {
        let dir = common::temp_dir("big-model");
        let model = Big::with_seed_boxed(11);
        let path = dir.join("big.safetensors");
        checkpoint::save_safetensors(&*model, &path).unwrap();
        let mut reloaded = Big::with_seed_boxed(12);
        checkpoint::load_safetensors(&mut *reloaded, &path).unwrap();
        assert!(reloaded.params == model.params);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
