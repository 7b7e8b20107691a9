//! The Gate: the one place that decides. classify → evaluate the policy → append the decision
//! record → return the verdict. Both doors call it.
