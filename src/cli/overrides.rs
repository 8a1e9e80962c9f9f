//! `--steps`, `--present` and `--seed`: the run block settings a command
//! line may replace without copying the spec.

use clap::Args;
use snnc_compiler::ir::{ReadAt, Run};

/// Simulation settings that replace the run block's.
#[derive(Args, Debug, Default, Clone)]
pub struct SimOverrides {
    /// Simulate N steps per input instead of the run block's `steps` (or
    /// `present / dt`).
    #[arg(long, value_name = "N", conflicts_with = "present")]
    pub steps: Option<usize>,

    /// Hold each input for this long (`30ms`, `0.1s`) instead of the run
    /// block's `present`; the steps are `present / dt`.
    #[arg(long, value_name = "T")]
    pub present: Option<String>,

    /// Draw the uniform initial voltages (those without their own seed)
    /// from this seed instead of the run block's `seed`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

impl SimOverrides {
    /// Replaces `run`'s steps and seed with the ones given.
    pub fn apply(&self, run: &mut Run) -> Result<(), String> {
        if let Some(steps) = self.steps {
            if steps == 0 {
                return Err("--steps must be at least 1".into());
            }
            run.steps = steps;
        }
        if let Some(p) = &self.present {
            let t = super::sweep::parse_duration(p).map_err(|e| format!("--present: {e}"))?;
            let steps = (t / run.dt).round();
            if steps < 1.0 {
                return Err(format!(
                    "--present {p} is shorter than one step of {} ms; give a longer time or lower the run block's `dt`",
                    run.dt * 1e3
                ));
            }
            run.steps = steps as usize;
        }
        if let ReadAt::Step(k) = run.report.at {
            if k > run.steps {
                return Err(format!(
                    "the run block reports at step {k}, but --steps/--present leave only {} steps; \
                     give at least {k} steps or change `report = accuracy(..., at=...)`",
                    run.steps
                ));
            }
        }
        if let Some(seed) = self.seed {
            run.seed = seed;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(text: &str) -> Run {
        let src = format!(
            "network n {{\n    input x: 4\n    y = dense(x, units=2)\n}}\nprobe p = y\nrun {{\n    network = n\n    params = \"p.npz\"\n    data = npz(\"d.npz\")\n{text}\n}}\n"
        );
        let checked = snnc_compiler::check_source(&src);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        program.runs[0].clone()
    }

    #[test]
    fn steps_present_and_seed_replace_the_run_blocks() {
        let mut run = run_of("    dt = 1ms\n    present = 20ms\n    seed = 3");
        assert_eq!((run.steps, run.seed), (20, 3));
        let o = SimOverrides {
            steps: Some(7),
            seed: Some(9),
            ..SimOverrides::default()
        };
        o.apply(&mut run).unwrap();
        assert_eq!((run.steps, run.seed), (7, 9));
        let o = SimOverrides {
            present: Some("0.05s".into()),
            ..SimOverrides::default()
        };
        o.apply(&mut run).unwrap();
        assert_eq!((run.steps, run.seed), (50, 9));
    }

    #[test]
    fn zero_or_too_short_times_are_refused() {
        let mut run = run_of("    dt = 1ms\n    present = 20ms");
        let zero = SimOverrides {
            steps: Some(0),
            ..SimOverrides::default()
        };
        assert!(zero.apply(&mut run).unwrap_err().contains("--steps"));
        let short = SimOverrides {
            present: Some("0.1ms".into()),
            ..SimOverrides::default()
        };
        let e = short.apply(&mut run).unwrap_err();
        assert!(e.contains("shorter than one step"), "{e}");
        let unitless = SimOverrides {
            present: Some("20".into()),
            ..SimOverrides::default()
        };
        assert!(unitless.apply(&mut run).unwrap_err().contains("20ms"));
        assert_eq!(run.steps, 20, "a refused override changes nothing");
    }

    #[test]
    fn a_report_step_beyond_the_new_steps_is_refused() {
        let mut run = run_of("    dt = 1ms\n    present = 20ms\n    report = accuracy(p, at=15)");
        let o = SimOverrides {
            steps: Some(10),
            ..SimOverrides::default()
        };
        let e = o.apply(&mut run).unwrap_err();
        assert!(e.contains("step 15"), "{e}");
    }
}
