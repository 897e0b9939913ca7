//! The orchestrator's vocabulary and pure logic: route planning, DAG
//! templates, task states and what each task may do.

pub mod dag;
pub mod output;
pub mod params;
pub mod route;
pub mod state;
pub mod template;
