/**
 * Delta Sharing's configuration (docs/delta-sharing.md): the model and its
 * one-query load (the reader), the changes the CLI makes, recipients'
 * tokens and profile files, and the names the protocol carries.
 */
export { loadSharingConfig, tableIdFor, type SharingConfig, type SharingRecipient, type SharingSchema, type SharingShare, type SharingTableEntry } from './model.ts';
export { createRecipient, revokeRecipient, shareTables, unshareTable, type RecipientRequest, type ShareTablesResult } from './admin.ts';
export { generateToken, hashToken, profileFor, tokenMatches, writeProfileFile, type SharingProfile } from './tokens.ts';
export { checkSharingName, deltaTableNamePattern, isSharingName, parseTableSelector, sharingNamePattern, sharingNameRule, type TableSelector } from './names.ts';
