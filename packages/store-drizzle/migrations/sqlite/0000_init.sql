CREATE TABLE `grantkit_authorization_codes` (
	`code_hash` text PRIMARY KEY NOT NULL,
	`client_id` text NOT NULL,
	`user_id` text NOT NULL,
	`redirect_uri` text,
	`scope` text NOT NULL,
	`family_id` text NOT NULL,
	`code_challenge` text,
	`code_challenge_method` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`consumed_at` integer,
	`extra` text
);
--> statement-breakpoint
CREATE INDEX `grantkit_authorization_codes_client_id_idx` ON `grantkit_authorization_codes` (`client_id`);--> statement-breakpoint
CREATE INDEX `grantkit_authorization_codes_family_id_idx` ON `grantkit_authorization_codes` (`family_id`);--> statement-breakpoint
CREATE INDEX `grantkit_authorization_codes_expires_at_idx` ON `grantkit_authorization_codes` (`expires_at`);--> statement-breakpoint
CREATE TABLE `grantkit_clients` (
	`client_id` text PRIMARY KEY NOT NULL,
	`client_secret_hash` text,
	`client_name` text,
	`redirect_uris` text NOT NULL,
	`grant_types` text NOT NULL,
	`response_types` text NOT NULL,
	`scope` text NOT NULL,
	`token_endpoint_auth_method` text NOT NULL,
	`metadata` text
);
--> statement-breakpoint
CREATE TABLE `grantkit_replay_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `grantkit_replay_keys_expires_at_idx` ON `grantkit_replay_keys` (`expires_at`);--> statement-breakpoint
CREATE TABLE `grantkit_tokens` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`client_id` text NOT NULL,
	`user_id` text,
	`scope` text NOT NULL,
	`family_id` text NOT NULL,
	`issued_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`revoked_at` integer,
	`rotated_at` integer,
	`extra` text
);
--> statement-breakpoint
CREATE INDEX `grantkit_tokens_client_id_idx` ON `grantkit_tokens` (`client_id`);--> statement-breakpoint
CREATE INDEX `grantkit_tokens_family_id_idx` ON `grantkit_tokens` (`family_id`);--> statement-breakpoint
CREATE INDEX `grantkit_tokens_expires_at_idx` ON `grantkit_tokens` (`expires_at`);--> statement-breakpoint
CREATE TABLE `grantkit_users` (
	`id` text PRIMARY KEY NOT NULL,
	`username` text NOT NULL,
	`password_hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `grantkit_users_username_unique` ON `grantkit_users` (`username`);