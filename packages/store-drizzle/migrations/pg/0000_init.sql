CREATE TABLE "grantkit_authorization_codes" (
	"code_hash" text PRIMARY KEY NOT NULL,
	"client_id" text NOT NULL,
	"user_id" text NOT NULL,
	"redirect_uri" text,
	"scope" text NOT NULL,
	"family_id" text NOT NULL,
	"code_challenge" text,
	"code_challenge_method" text,
	"created_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"consumed_at" timestamp (3) with time zone,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "grantkit_clients" (
	"client_id" text PRIMARY KEY NOT NULL,
	"client_secret_hash" text,
	"client_name" text,
	"redirect_uris" jsonb NOT NULL,
	"grant_types" jsonb NOT NULL,
	"response_types" jsonb NOT NULL,
	"scope" text NOT NULL,
	"token_endpoint_auth_method" text NOT NULL,
	"metadata" jsonb
);
--> statement-breakpoint
CREATE TABLE "grantkit_replay_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "grantkit_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"client_id" text NOT NULL,
	"user_id" text,
	"scope" text NOT NULL,
	"family_id" text NOT NULL,
	"issued_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	"rotated_at" timestamp (3) with time zone,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "grantkit_users" (
	"id" text PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"password_hash" text NOT NULL,
	CONSTRAINT "grantkit_users_username_unique" UNIQUE("username")
);
--> statement-breakpoint
CREATE INDEX "grantkit_authorization_codes_client_id_idx" ON "grantkit_authorization_codes" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "grantkit_authorization_codes_family_id_idx" ON "grantkit_authorization_codes" USING btree ("family_id");--> statement-breakpoint
CREATE INDEX "grantkit_authorization_codes_expires_at_idx" ON "grantkit_authorization_codes" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "grantkit_replay_keys_expires_at_idx" ON "grantkit_replay_keys" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "grantkit_tokens_client_id_idx" ON "grantkit_tokens" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "grantkit_tokens_family_id_idx" ON "grantkit_tokens" USING btree ("family_id");--> statement-breakpoint
CREATE INDEX "grantkit_tokens_expires_at_idx" ON "grantkit_tokens" USING btree ("expires_at");