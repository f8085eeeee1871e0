/**
 * Parity with the PyTorch reference: its snake_case configs, one-step and trajectory fixtures.
 *
 * @module
 */
export * from "./config.ts";
export { FixtureError, maxRelErr, PARITY_TOLERANCE, type ParityRow, runParity } from "./parity.ts";
export {
  readTrajectoryOptimizer,
  runTrajectory,
  TRAJECTORY_TOLERANCE,
  type TrajectoryOptimizer,
} from "./trajectory.ts";
export { type FixtureKind, fixtureKind, readFixtureFile, runFixture } from "./fixture.ts";
