PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE alembic_version_registry (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_registry_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version_registry VALUES('0002');
CREATE TABLE building (
	building_code VARCHAR(10) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	building_type VARCHAR(20) NOT NULL, 
	floor_area_m2 FLOAT NOT NULL, 
	climate_zone VARCHAR(40) NOT NULL, 
	ownership VARCHAR(40) NOT NULL, 
	district VARCHAR(100) NOT NULL, 
	latitude_deg FLOAT NOT NULL, 
	longitude_deg FLOAT NOT NULL, 
	occupants INTEGER NOT NULL, 
	year_built INTEGER, 
	gateway_id VARCHAR(64), simulation JSON, 
	CONSTRAINT pk_building PRIMARY KEY (building_code)
);
INSERT INTO building VALUES('510402A001','Building 510402A001','office',10000.0,'hot_summer_cold_winter','large_public','Shizhong',29.55000000000000071,103.76999999999999602,0,NULL,NULL,'null');
CREATE TABLE meter (
	id INTEGER NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	installed_on DATE NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	carrier VARCHAR(30) NOT NULL, 
	sub_item VARCHAR(30), 
	parent_device_id VARCHAR(64), 
	CONSTRAINT pk_meter PRIMARY KEY (id), 
	CONSTRAINT fk_meter_building_code_building FOREIGN KEY(building_code) REFERENCES building (building_code) ON DELETE CASCADE, 
	CONSTRAINT uq_meter_building_code UNIQUE (building_code, device_id)
);
INSERT INTO meter VALUES(1,'E-MAIN','2015-01-01','510402A001','electricity','main',NULL);
INSERT INTO meter VALUES(2,'E-HVAC','2015-01-01','510402A001','electricity','hvac','E-MAIN');
CREATE TABLE pv_system (
	id INTEGER NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	installed_on DATE NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	capacity_kwp FLOAT NOT NULL, 
	tilt_deg FLOAT NOT NULL, 
	azimuth_deg FLOAT NOT NULL, 
	has_grid_meter BOOLEAN NOT NULL, 
	CONSTRAINT pk_pv_system PRIMARY KEY (id), 
	CONSTRAINT fk_pv_system_building_code_building FOREIGN KEY(building_code) REFERENCES building (building_code) ON DELETE CASCADE, 
	CONSTRAINT uq_pv_system_building_code UNIQUE (building_code, device_id)
);
CREATE TABLE charging_pile (
	id INTEGER NOT NULL, 
	device_id VARCHAR(64) NOT NULL, 
	installed_on DATE NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	pile_kind VARCHAR(20) NOT NULL, 
	rated_power_kw FLOAT NOT NULL, 
	CONSTRAINT pk_charging_pile PRIMARY KEY (id), 
	CONSTRAINT fk_charging_pile_building_code_building FOREIGN KEY(building_code) REFERENCES building (building_code) ON DELETE CASCADE, 
	CONSTRAINT uq_charging_pile_building_code UNIQUE (building_code, device_id)
);
CREATE TABLE api_schema_version (
	version INTEGER NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO api_schema_version VALUES(1,'2026-12-01 00:20:08.891793');
CREATE TABLE api_user (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	email VARCHAR(200), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO api_user VALUES(1,'old-admin','administrator',NULL,'2026-12-01 00:20:09.143038');
CREATE TABLE api_alert (
	id INTEGER NOT NULL, 
	rule VARCHAR(64) NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	district VARCHAR(100) NOT NULL, 
	building_type VARCHAR(32) NOT NULL, 
	ownership VARCHAR(64) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	message TEXT NOT NULL, 
	details JSON NOT NULL, 
	opened_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	acknowledged_by VARCHAR(100), 
	acknowledged_at DATETIME, 
	resolved_by VARCHAR(100), 
	resolved_at DATETIME, 
	resolution_comment TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE api_key (
	id INTEGER NOT NULL, 
	key_id VARCHAR(32) NOT NULL, 
	user_id INTEGER NOT NULL, 
	salt BLOB NOT NULL, 
	secret_hash BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (key_id), 
	FOREIGN KEY(user_id) REFERENCES api_user (id) ON DELETE CASCADE
);
INSERT INTO api_key VALUES(1,'a943ab79c70b',1,X'8addd1e31eeb065a4ed337f925bd2e2e',X'273e941e5bf9015d456268f315352dd8075ee28c58a65b6176288fe7fe6d37b6','2026-12-01 00:20:09.314914',NULL);
CREATE TABLE api_assignment (
	user_id INTEGER NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	PRIMARY KEY (user_id, building_code), 
	FOREIGN KEY(user_id) REFERENCES api_user (id) ON DELETE CASCADE
);
CREATE TABLE api_alert_event (
	id INTEGER NOT NULL, 
	alert_id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	event VARCHAR(16) NOT NULL, 
	actor VARCHAR(100) NOT NULL, 
	comment TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(alert_id) REFERENCES api_alert (id) ON DELETE CASCADE
);
CREATE TABLE api_subscription (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	channel VARCHAR(16) NOT NULL, 
	target VARCHAR(500) NOT NULL, 
	district VARCHAR(100), 
	building_type VARCHAR(32), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES api_user (id) ON DELETE CASCADE
);
CREATE TABLE api_outbox (
	id INTEGER NOT NULL, 
	alert_id INTEGER NOT NULL, 
	event VARCHAR(16) NOT NULL, 
	channel VARCHAR(16) NOT NULL, 
	target VARCHAR(500) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	last_error TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(alert_id) REFERENCES api_alert (id) ON DELETE CASCADE
);
CREATE TABLE alembic_version_disclosure (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_disclosure_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version_disclosure VALUES('d0001');
CREATE TABLE disclosure_record (
	id INTEGER NOT NULL, 
	building_code VARCHAR(10) NOT NULL, 
	year INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	snapshot_version INTEGER NOT NULL, 
	figures JSON NOT NULL, 
	figures_sha256 VARCHAR(64) NOT NULL, 
	conversion_basis VARCHAR(40) NOT NULL, 
	factor_table_version VARCHAR(80) NOT NULL, 
	coverage FLOAT NOT NULL, 
	building_name VARCHAR(200) NOT NULL, 
	district VARCHAR(100) NOT NULL, 
	building_type VARCHAR(20) NOT NULL, 
	audit_required BOOLEAN NOT NULL, 
	energy_tce FLOAT NOT NULL, 
	eui_kgce_per_m2 FLOAT NOT NULL, 
	remarks TEXT, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(100) NOT NULL, 
	submitted_by_user_id INTEGER, 
	submitted_by VARCHAR(100), 
	submitted_at DATETIME, 
	approved_by VARCHAR(100), 
	approved_at DATETIME, 
	published_by VARCHAR(100), 
	published_at DATETIME, 
	withdrawn_at DATETIME, 
	withdraw_reason TEXT, 
	row_version INTEGER NOT NULL, 
	CONSTRAINT pk_disclosure_record PRIMARY KEY (id), 
	CONSTRAINT uq_disclosure_record_version UNIQUE (building_code, year, version)
);
CREATE TABLE disclosure_event (
	id INTEGER NOT NULL, 
	record_id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	action VARCHAR(16) NOT NULL, 
	actor_user_id INTEGER, 
	actor_name VARCHAR(100) NOT NULL, 
	actor_role VARCHAR(32) NOT NULL, 
	from_state VARCHAR(16), 
	to_state VARCHAR(16) NOT NULL, 
	text TEXT, 
	CONSTRAINT pk_disclosure_event PRIMARY KEY (id), 
	CONSTRAINT fk_disclosure_event_record_id_disclosure_record FOREIGN KEY(record_id) REFERENCES disclosure_record (id) ON DELETE CASCADE
);
CREATE INDEX ix_building_building_type ON building (building_type);
CREATE INDEX ix_building_district ON building (district);
CREATE INDEX ix_building_ownership ON building (ownership);
CREATE INDEX ix_meter_building_code ON meter (building_code);
CREATE INDEX ix_pv_system_building_code ON pv_system (building_code);
CREATE INDEX ix_charging_pile_building_code ON charging_pile (building_code);
CREATE UNIQUE INDEX uq_api_alert_open ON api_alert (rule, building_code) WHERE state != 'resolved';
CREATE INDEX ix_api_alert_building_code ON api_alert (building_code);
CREATE INDEX ix_api_alert_event_alert_id ON api_alert_event (alert_id);
CREATE INDEX ix_api_subscription_user_id ON api_subscription (user_id);
CREATE INDEX ix_api_outbox_alert_id ON api_outbox (alert_id);
CREATE INDEX ix_api_outbox_next_attempt_at ON api_outbox (next_attempt_at);
CREATE INDEX ix_disclosure_record_building_code ON disclosure_record (building_code);
CREATE INDEX ix_disclosure_record_year ON disclosure_record (year);
CREATE INDEX ix_disclosure_record_state ON disclosure_record (state);
CREATE INDEX ix_disclosure_record_district ON disclosure_record (district);
CREATE INDEX ix_disclosure_record_building_type ON disclosure_record (building_type);
CREATE UNIQUE INDEX uq_disclosure_record_published ON disclosure_record (building_code, year) WHERE state = 'published';
CREATE INDEX ix_disclosure_event_record_id ON disclosure_event (record_id);
COMMIT;
