// Typing through a suggestion on screen: the rule is shared with the server's
// completion cache (server/complete/typeThrough.ts).
export { remainderAfterTyping, type Anchored, type Remainder } from '../../server/complete/typeThrough';
