// Package train fits a head on cached encoder embeddings: the epoch loop
// (Trainer), the Stepper that turns one batch into the loss and gradients,
// optimizers with warm-up and decay schedules, samplers (m-per-class for
// labelled data, duplicate-free pair batches), dev evaluation with early
// stopping, and checkpoints from which a run resumes bit for bit.
package train
