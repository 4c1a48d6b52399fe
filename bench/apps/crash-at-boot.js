'use strict';
// Throws before listening, every time.
throw new Error('bench: this app always fails at boot');
