// `@recfleet/contract/service`: what recfleet's long-running processes share about their command line
// and config files. A subpath of its own, so that producers importing the contract do not load YAML.
export * from './config-file.js';
export * from './service-cli.js';
