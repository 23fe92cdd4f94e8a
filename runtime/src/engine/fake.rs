//! A scripted [`GraphRunner`] for tests, in the style of embedded-hal-mock: the test lists
//! the calls it expects across every graph, in order, with the inputs each must receive and
//! what it answers (outputs or an error). A call out of order or with other inputs panics with
//! both sides; [`Script::done`] checks that every expected call happened.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use super::{GraphRunner, TensorInfo};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One expected call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    graph: String,
    inputs: Vec<(String, Tensor)>,
    answer: std::result::Result<Vec<(String, Tensor)>, String>,
}

impl Call {
    /// Graph `graph` is called with exactly `inputs` (any order) and returns `outputs`.
    pub(crate) fn new(
        graph: &str,
        inputs: &[(&str, &Tensor)],
        outputs: &[(&str, &Tensor)],
    ) -> Self {
        Self {
            graph: graph.into(),
            inputs: owned(inputs),
            answer: Ok(owned(outputs)),
        }
    }

    /// Graph `graph` is called with exactly `inputs` and fails with `message`.
    pub(crate) fn failing(graph: &str, inputs: &[(&str, &Tensor)], message: &str) -> Self {
        Self {
            graph: graph.into(),
            inputs: owned(inputs),
            answer: Err(message.into()),
        }
    }
}

fn owned(list: &[(&str, &Tensor)]) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The expected calls, shared by every fake runner of one test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    calls: Arc<Mutex<VecDeque<Call>>>,
}

impl Script {
    /// A script expecting `calls` in this order.
    pub(crate) fn new(calls: Vec<Call>) -> Self {
        Self {
            calls: Arc::new(Mutex::new(calls.into())),
        }
    }

    /// A runner standing for the graph `graph` (it declares no inputs or outputs).
    pub(crate) fn runner(&self, graph: &str) -> FakeRunner {
        self.runner_with_io(graph, &[], &[])
    }

    /// A runner standing for the graph `graph` that declares these input and output names
    /// (`f32`, shape unknown), for the contract checks.
    pub(crate) fn runner_with_io(
        &self,
        graph: &str,
        inputs: &[&str],
        outputs: &[&str],
    ) -> FakeRunner {
        let info = |names: &[&str]| {
            names
                .iter()
                .map(|n| TensorInfo {
                    name: (*n).to_string(),
                    element_type: "f32".into(),
                    shape: Vec::new(),
                })
                .collect()
        };
        FakeRunner {
            graph: graph.into(),
            script: self.clone(),
            inputs: info(inputs),
            outputs: info(outputs),
        }
    }

    /// Panics unless every expected call was made.
    pub(crate) fn done(&self) {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let left: Vec<&str> = calls.iter().map(|c| c.graph.as_str()).collect();
        assert!(left.is_empty(), "expected calls were not made: {left:?}");
    }
}

/// A fake graph: each run takes the next expected call of its script.
#[derive(Debug)]
pub(crate) struct FakeRunner {
    graph: String,
    script: Script,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

impl GraphRunner for FakeRunner {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let call = self
            .script
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(call) = call else {
            panic!(
                "unexpected call to `{}`: no more calls expected",
                self.graph
            );
        };
        assert_eq!(
            self.graph, call.graph,
            "graph `{}` was called where `{}` was expected",
            self.graph, call.graph
        );
        assert_eq!(
            owned(inputs),
            call.inputs,
            "graph `{}` got other inputs than expected",
            self.graph
        );
        call.answer.map_err(|reason| Error::GraphContract {
            graph: self.graph.clone(),
            reason,
        })
    }
}
