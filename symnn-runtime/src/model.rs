use crate::{Cost, Float};

/// What every `network!`-generated struct implements, with slices instead of the
/// inherent methods' fixed-size arrays, so generic code can train any network.
///
/// The slice methods panic if a slice has the wrong length (a programming error, like
/// indexing out of bounds); check lengths against the constants first when the data
/// comes from outside.
///
/// Models are `Sync`: the [`Trainer`](crate::Trainer) shares one read-only across
/// threads while they accumulate the gradients of a minibatch's parts. A generated
/// network is a plain parameter array, so it always is.
pub trait Model: Clone + Sync {
    /// The element type, `f32` or `f64`.
    type Float: Float;
    /// Number of trainable parameters (`P`).
    const NUM_PARAMS: usize;
    /// Number of input values (`I`), all inputs flattened row-major in declaration order.
    const NUM_INPUTS: usize;
    /// Number of target values (`T`), flattened the same way.
    const NUM_TARGETS: usize;
    /// Number of output values (`O`).
    const NUM_OUTPUTS: usize;

    /// Parameter names in storage order: `"w13"`, `"W[0][1]"`, `"h1.weight[3][0]"`.
    fn param_names() -> &'static [&'static str];
    /// Parameter groups (one per declared param or per `dense` weight/bias) with their
    /// shapes, in storage order; each group's elements are contiguous and row-major.
    fn param_groups() -> &'static [ParamGroup];
    /// Operation counts of the generated code.
    fn cost() -> Cost;
    /// The symbolic derivation, human-readable.
    fn derivation() -> &'static str;
    /// The derivation as an aligned LaTeX block. Generated networks return theirs; the
    /// default (for hand-written models) is empty.
    fn derivation_latex() -> &'static str {
        ""
    }
    /// The forward and backward computation as a Graphviz DOT graph. Generated
    /// networks return theirs; the default (for hand-written models) is empty.
    fn graph_dot() -> &'static str {
        ""
    }

    /// All parameters, in [`Model::param_names`] order.
    fn params(&self) -> &[Self::Float];
    /// All parameters, mutable.
    fn params_mut(&mut self) -> &mut [Self::Float];
    /// Writes the network output for `input` into `output`.
    fn forward_slice(&self, input: &[Self::Float], output: &mut [Self::Float]);
    /// The loss for one sample.
    fn loss_slice(&self, input: &[Self::Float], target: &[Self::Float]) -> Self::Float;
    /// Adds dL/dparams for one sample into `grad` and returns the loss.
    fn accumulate_gradient_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float;
    /// One plain SGD step on one sample (simultaneous update); returns the loss before it.
    fn sgd_step_slice(
        &mut self,
        input: &[Self::Float],
        target: &[Self::Float],
        lr: Self::Float,
    ) -> Self::Float;

    /// Writes dL/dparams for one sample into `grad` (overwriting it) and returns the
    /// loss: the gradient without a `[F; P]` on the stack.
    fn gradient_into_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        grad.fill(Self::Float::ZERO);
        self.accumulate_gradient_slice(input, target, grad)
    }

    /// Adds the summed dL/dparams of a block of samples into `grad` and returns the summed
    /// loss. `inputs` holds `n` samples back to back (`n * NUM_INPUTS` values) and
    /// `targets` their targets (`n * NUM_TARGETS`).
    ///
    /// Generated networks override this with batch code (SIMD across samples for small
    /// nets, register-tiled matrix products for wide layers); the result equals the sum
    /// of [`Model::accumulate_gradient_slice`] over the samples up to rounding (the
    /// summation order differs). The default is that loop.
    ///
    /// # Panics
    /// If the slices' lengths do not describe the same number of whole samples, or
    /// `grad.len() != NUM_PARAMS`.
    fn accumulate_gradient_batch_slice(
        &self,
        inputs: &[Self::Float],
        targets: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        let n = batch_len::<Self>(inputs, targets);
        let mut loss = Self::Float::ZERO;
        for s in 0..n {
            let x = &inputs[s * Self::NUM_INPUTS..(s + 1) * Self::NUM_INPUTS];
            let y = &targets[s * Self::NUM_TARGETS..(s + 1) * Self::NUM_TARGETS];
            loss += self.accumulate_gradient_slice(x, y, grad);
        }
        loss
    }

    /// Writes the outputs of a batch of samples into `outputs`, row by row: `inputs`
    /// holds the samples' inputs back to back (`NUM_INPUTS` each) and `outputs`
    /// receives `NUM_OUTPUTS` per sample.
    ///
    /// Generated networks compute a block of samples at once (SIMD lanes, GEMMs for
    /// wide layers); each row equals [`Model::forward_slice`]'s up to the last ulps of
    /// the vectorised transcendentals. The default is that loop.
    ///
    /// # Panics
    /// If the slices' lengths do not describe the same number of whole samples.
    fn forward_batch_slice(&self, inputs: &[Self::Float], outputs: &mut [Self::Float]) {
        let n = samples(
            (inputs.len(), Self::NUM_INPUTS),
            (outputs.len(), Self::NUM_OUTPUTS),
            "output rows",
        );
        for s in 0..n {
            self.forward_slice(
                &inputs[s * Self::NUM_INPUTS..(s + 1) * Self::NUM_INPUTS],
                &mut outputs[s * Self::NUM_OUTPUTS..(s + 1) * Self::NUM_OUTPUTS],
            );
        }
    }

    /// The summed loss of a batch of samples (same layout and panics as
    /// [`Model::accumulate_gradient_batch_slice`]). Generated networks compute a block
    /// at a time; the default loops over [`Model::loss_slice`].
    fn loss_batch_slice(&self, inputs: &[Self::Float], targets: &[Self::Float]) -> Self::Float {
        let n = batch_len::<Self>(inputs, targets);
        let mut loss = Self::Float::ZERO;
        for s in 0..n {
            loss += self.loss_slice(
                &inputs[s * Self::NUM_INPUTS..(s + 1) * Self::NUM_INPUTS],
                &targets[s * Self::NUM_TARGETS..(s + 1) * Self::NUM_TARGETS],
            );
        }
        loss
    }

    /// One minibatch SGD step: every parameter moves by `-lr` times the *mean* gradient
    /// of the samples (at the old parameters). Returns the mean loss before the step.
    /// Same layout and panics as [`Model::accumulate_gradient_batch_slice`].
    ///
    /// The default accumulates into a heap buffer of `NUM_PARAMS` values (so without
    /// the `alloc` feature there is no default); generated networks override it.
    #[cfg(feature = "alloc")]
    fn sgd_step_batch_slice(
        &mut self,
        inputs: &[Self::Float],
        targets: &[Self::Float],
        lr: Self::Float,
    ) -> Self::Float {
        let n = batch_len::<Self>(inputs, targets);
        if n == 0 {
            return Self::Float::ZERO;
        }
        let mut grad = alloc::vec![Self::Float::ZERO; Self::NUM_PARAMS];
        let loss = self.accumulate_gradient_batch_slice(inputs, targets, &mut grad);
        let scale = lr / Self::Float::from_f64(n as f64);
        for (p, g) in self.params_mut().iter_mut().zip(&grad) {
            *p -= scale * *g;
        }
        loss / Self::Float::from_f64(n as f64)
    }

    /// One minibatch SGD step: every parameter moves by `-lr` times the *mean* gradient
    /// of the samples (at the old parameters). Returns the mean loss before the step.
    /// Same layout and panics as [`Model::accumulate_gradient_batch_slice`].
    ///
    /// (Without the `alloc` feature this method has no default: generated networks
    /// implement it.)
    #[cfg(not(feature = "alloc"))]
    fn sgd_step_batch_slice(
        &mut self,
        inputs: &[Self::Float],
        targets: &[Self::Float],
        lr: Self::Float,
    ) -> Self::Float;

    /// Writes `∂output/∂input` into `jac` (row-major, `NUM_OUTPUTS × NUM_INPUTS`: row `o`
    /// is output `o`), overwriting it.
    ///
    /// Generated networks override this with exact symbolic code. The default, for
    /// hand-written models, is a central finite difference of [`Model::forward_slice`]
    /// (step `ε^{1/3}·max(1, |x|)`), accurate to about `ε^{2/3}`.
    ///
    /// # Panics
    /// If a slice has the wrong length.
    fn input_jacobian_slice(&self, input: &[Self::Float], jac: &mut [Self::Float]) {
        crate::fd::input_jacobian(self, input, jac);
    }

    /// Writes `∂L/∂input` into `grad` (overwriting it) and returns the loss.
    ///
    /// Generated networks override this with exact symbolic code; the default is a
    /// central finite difference of [`Model::loss_slice`].
    ///
    /// # Panics
    /// If a slice has the wrong length.
    fn input_gradient_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        crate::fd::input_gradient(self, input, target, grad)
    }

    /// Writes the Hessian–vector product `out = (∂²L/∂θ²)·v` for one sample
    /// (overwriting `out`) and returns the loss.
    ///
    /// Generated networks override this with exact symbolic code (forward-over-reverse
    /// on the same graph). The default, for hand-written models, is a central finite
    /// difference of [`Model::accumulate_gradient_slice`] along `v` (it needs the
    /// `alloc` feature for two gradient buffers; without it the default panics).
    ///
    /// # Panics
    /// If a slice has the wrong length.
    fn hvp_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        v: &[Self::Float],
        out: &mut [Self::Float],
    ) -> Self::Float {
        crate::fd::hvp(self, input, target, v, out)
    }

    /// Writes `jac[o][p] = ∂output_o/∂θ_p` into `jac` (row-major,
    /// `NUM_OUTPUTS × NUM_PARAMS`, overwriting it) and the output into `output`.
    /// This is the Jacobian Gauss–Newton and [Levenberg–Marquardt] need.
    ///
    /// Generated networks override this with exact symbolic code; the default is a
    /// central finite difference of [`Model::forward_slice`] over the parameters.
    ///
    /// [Levenberg–Marquardt]: https://en.wikipedia.org/wiki/Levenberg%E2%80%93Marquardt_algorithm
    ///
    /// # Panics
    /// If a slice has the wrong length.
    fn param_jacobian_slice(
        &self,
        input: &[Self::Float],
        jac: &mut [Self::Float],
        output: &mut [Self::Float],
    ) {
        crate::fd::param_jacobian(self, input, jac, output);
    }

    /// The network of `with_seed(seed)`, built directly on the heap.
    ///
    /// A generated network is its parameter array: a 784-128-10 net in `f64` is 814 KB,
    /// and returning that by value (`new()`, `from_params`, `gradient()`) can overflow a
    /// 2 MiB thread stack (test threads, rayon workers), in debug builds especially.
    /// Generic code that creates models uses this and [`Model::from_params_boxed`].
    /// (Feature `alloc`, implied by `std`.)
    #[cfg(feature = "alloc")]
    fn with_seed_boxed(seed: u64) -> alloc::boxed::Box<Self>;

    /// A boxed network with exactly these parameters, built on the heap.
    ///
    /// # Panics
    /// If `params.len() != NUM_PARAMS`.
    #[cfg(feature = "alloc")]
    fn from_params_boxed(params: &[Self::Float]) -> alloc::boxed::Box<Self> {
        let mut model = Self::with_seed_boxed(0);
        assert_eq!(
            params.len(),
            Self::NUM_PARAMS,
            "symnn: `params` has length {} but the network has {} parameters",
            params.len(),
            Self::NUM_PARAMS
        );
        model.params_mut().copy_from_slice(params);
        model
    }
}

/// One named group of parameters: a declared `param`, or a `dense` layer's
/// `weight`/`bias`. Used for checkpoints (tensor names and shapes) and initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamGroup {
    /// Name as written (`"w13"`, `"W"`) or `"<binding>.weight"` / `"<binding>.bias"`.
    pub name: &'static str,
    /// Shape: `&[]` for a scalar, `&[n]` for a vector, `&[rows, cols]` for a matrix.
    pub shape: &'static [usize],
    /// Index of the first element in the parameter array.
    pub offset: usize,
}

impl ParamGroup {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True for a zero-sized group (never generated, but keeps clippy honest).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The number of samples in a flat batch, checking that inputs and targets agree.
///
/// # Panics
/// If either length is not a whole number of samples, or they disagree.
pub fn batch_len<M: Model>(inputs: &[M::Float], targets: &[M::Float]) -> usize {
    samples(
        (inputs.len(), M::NUM_INPUTS),
        (targets.len(), M::NUM_TARGETS),
        "targets",
    )
}

/// The number of samples in two flat arrays of rows `(length, row width)` (`others`
/// names the second in the panic message); a width of 0 says nothing.
pub(crate) fn samples(inputs: (usize, usize), rows: (usize, usize), others: &str) -> usize {
    let whole = |(len, width): (usize, usize)| {
        if width == 0 {
            None
        } else {
            assert!(
                len.is_multiple_of(width),
                "symnn: a batch slice of length {len} is not a whole number of samples of width {width}"
            );
            Some(len / width)
        }
    };
    match (whole(inputs), whole(rows)) {
        (Some(a), Some(b)) => {
            assert_eq!(a, b, "symnn: {a} inputs but {b} {others} in a batch");
            a
        }
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => 0,
    }
}

/// A boxed model is a model: every method forwards to the boxed one, including the
/// batch and derivative methods a generated network overrides with exact code (so a
/// `Box<Net>` never falls back to the finite-difference defaults), and
/// [`with_seed_boxed`](Model::with_seed_boxed) / [`from_params_boxed`](Model::from_params_boxed)
/// box the boxed network's own. So `Trainer::fit(&mut net, ..)` takes a `Box<Net>` as it
/// is, without `&mut *net`.
///
/// (There is no such impl for `&mut M`: a [`Model`] is `Clone`, which `&mut M` is not.)
#[cfg(feature = "alloc")]
impl<M: Model> Model for alloc::boxed::Box<M> {
    type Float = M::Float;
    const NUM_PARAMS: usize = M::NUM_PARAMS;
    const NUM_INPUTS: usize = M::NUM_INPUTS;
    const NUM_TARGETS: usize = M::NUM_TARGETS;
    const NUM_OUTPUTS: usize = M::NUM_OUTPUTS;

    fn param_names() -> &'static [&'static str] {
        M::param_names()
    }
    fn param_groups() -> &'static [ParamGroup] {
        M::param_groups()
    }
    fn cost() -> Cost {
        M::cost()
    }
    fn derivation() -> &'static str {
        M::derivation()
    }
    fn derivation_latex() -> &'static str {
        M::derivation_latex()
    }
    fn graph_dot() -> &'static str {
        M::graph_dot()
    }
    fn params(&self) -> &[Self::Float] {
        (**self).params()
    }
    fn params_mut(&mut self) -> &mut [Self::Float] {
        (**self).params_mut()
    }
    fn forward_slice(&self, input: &[Self::Float], output: &mut [Self::Float]) {
        (**self).forward_slice(input, output)
    }
    fn loss_slice(&self, input: &[Self::Float], target: &[Self::Float]) -> Self::Float {
        (**self).loss_slice(input, target)
    }
    fn accumulate_gradient_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        (**self).accumulate_gradient_slice(input, target, grad)
    }
    fn sgd_step_slice(
        &mut self,
        input: &[Self::Float],
        target: &[Self::Float],
        lr: Self::Float,
    ) -> Self::Float {
        (**self).sgd_step_slice(input, target, lr)
    }
    fn gradient_into_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        (**self).gradient_into_slice(input, target, grad)
    }
    fn forward_batch_slice(&self, inputs: &[Self::Float], outputs: &mut [Self::Float]) {
        (**self).forward_batch_slice(inputs, outputs);
    }
    fn loss_batch_slice(&self, inputs: &[Self::Float], targets: &[Self::Float]) -> Self::Float {
        (**self).loss_batch_slice(inputs, targets)
    }
    fn accumulate_gradient_batch_slice(
        &self,
        inputs: &[Self::Float],
        targets: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        (**self).accumulate_gradient_batch_slice(inputs, targets, grad)
    }
    fn sgd_step_batch_slice(
        &mut self,
        inputs: &[Self::Float],
        targets: &[Self::Float],
        lr: Self::Float,
    ) -> Self::Float {
        (**self).sgd_step_batch_slice(inputs, targets, lr)
    }
    fn input_jacobian_slice(&self, input: &[Self::Float], jac: &mut [Self::Float]) {
        (**self).input_jacobian_slice(input, jac)
    }
    fn input_gradient_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        grad: &mut [Self::Float],
    ) -> Self::Float {
        (**self).input_gradient_slice(input, target, grad)
    }
    fn hvp_slice(
        &self,
        input: &[Self::Float],
        target: &[Self::Float],
        v: &[Self::Float],
        out: &mut [Self::Float],
    ) -> Self::Float {
        (**self).hvp_slice(input, target, v, out)
    }
    fn param_jacobian_slice(
        &self,
        input: &[Self::Float],
        jac: &mut [Self::Float],
        output: &mut [Self::Float],
    ) {
        (**self).param_jacobian_slice(input, jac, output)
    }
    fn with_seed_boxed(seed: u64) -> alloc::boxed::Box<Self> {
        alloc::boxed::Box::new(M::with_seed_boxed(seed))
    }
    fn from_params_boxed(params: &[Self::Float]) -> alloc::boxed::Box<Self> {
        alloc::boxed::Box::new(M::from_params_boxed(params))
    }
}
