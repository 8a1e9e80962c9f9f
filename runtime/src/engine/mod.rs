//! What every engine shares: the scalar type ([`Real`]), the values that go
//! into and come out of a run ([`NodeParams`], [`InputSeq`], [`SimConfig`],
//! [`SimOutput`], [`SimError`]), the checks made before anything runs
//! ([`validate`], [`check_batch`]) and the interface ([`Engine`]) that the
//! reference interpreter and the JIT implement, so that a driver runs
//! either without knowing which.

mod real;
mod run_types;
mod validate;

pub use real::Real;
pub use run_types::{
    probe_rows, Counts, InputSeq, NodeParams, SimConfig, SimError, SimOutput, SpikeSummary,
};
pub use validate::{check_batch, check_inputs, image_shape, validate};

/// A model built for one engine and precision (its params bound, checked by
/// [`validate`]), ready to run any number of examples.
pub trait Engine<T: Real>: Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Runs independent examples of a single-input network, each from the
    /// initial state, spread over the machine's cores; outputs in input
    /// order. Every example is checked ([`check_batch`]) before any runs.
    /// `progress` is called (from worker threads) with the number of
    /// examples finished so far, once per finished example. `counts` says
    /// whether each neuron's spike count comes back or only each node's
    /// summary.
    fn run_batch_counting(
        &self,
        examples: &[InputSeq<'_, T>],
        counts: Counts,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<SimOutput<T>>, SimError>;

    /// [`Engine::run_batch_counting`] with every neuron's spike count.
    fn run_batch(
        &self,
        examples: &[InputSeq<'_, T>],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<SimOutput<T>>, SimError> {
        self.run_batch_counting(examples, Counts::PerNeuron, progress)
    }

    /// Seconds spent generating code before the first run, for an engine
    /// that compiles.
    fn compile_seconds(&self) -> Option<f64> {
        None
    }
}

/// The engines, as a user picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The Cranelift JIT: the network compiled to native code.
    Jit,
    /// The reference interpreter: the executable definition of the
    /// semantics; slower.
    Reference,
}

impl EngineKind {
    /// The name reports and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Jit => "jit",
            EngineKind::Reference => "reference",
        }
    }
}
