//! An identity connection: the input added as it is (every input of an
//! `add`, the one input of an `activation`).

use super::{Connection, EdgeOp, Pass, Site};
use crate::engine::Real;
use crate::train::kernels::add;
use crate::train::TrainError;

#[derive(Clone, Debug)]
pub(crate) struct Identity;

impl Identity {
    /// One identity connection per input, each of the node's size.
    pub(super) fn plan(site: &Site<'_>) -> Result<Vec<EdgeOp>, TrainError> {
        let size = site.node.size();
        if let Some(k) = (0..site.node.inputs.len()).find(|&k| site.in_size(k) != size) {
            return Err(site.err(format!(
                "input {k} has {} values, the layer {size}",
                site.in_size(k)
            )));
        }
        Ok(site
            .node
            .inputs
            .iter()
            .map(|_| EdgeOp::Identity(Identity))
            .collect())
    }
}

impl Connection for Identity {
    fn overwrites(&self) -> bool {
        false
    }

    fn forward<T: Real>(&self, _cx: &Pass<'_, T>, x: &[T], y: &mut [T], _record: &mut [u32]) {
        add(y, x);
    }

    fn backward<T: Real>(
        &self,
        _cx: &Pass<'_, T>,
        _x: &[T],
        dy: &[T],
        _record: &[u32],
        _dparams: &mut [T],
        dx: Option<&mut [T]>,
    ) {
        if let Some(dx) = dx {
            add(dx, dy);
        }
    }
}
