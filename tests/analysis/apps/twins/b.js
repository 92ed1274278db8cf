'use strict';
// The other class named Twin (see a.js).
class Twin { constructor(i) { this.fromB = [i]; } }
module.exports = Twin;
