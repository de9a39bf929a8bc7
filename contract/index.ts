export * from './events.ts';
export * from './parse.ts';
export * from './build.ts';
export * from './topics.ts';
export { EVENT_ID_MAX } from './cloudevents.ts';
