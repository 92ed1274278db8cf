'use strict';
// One of two classes named Twin, in two files: DevTools shows them as two rows.
class Twin { constructor(i) { this.fromA = i; } }
module.exports = Twin;
