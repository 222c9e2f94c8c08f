export * from './createWorker.js';
export * from './claude/runner.js';
export * from './claude/spawnRunner.js';
export * from './claude/buildArgs.js';
export * from './claude/childEnv.js';
export * from './claude/classifyOutcome.js';
export * from './claude/parseOutput.js';
export * from './queues/claude/processor.js';
